/**
 * A small element tree from saxes, a strict XML parser. Document type declarations are refused
 * outright, so no entity can be declared, let alone expanded; only XML's five predefined entities
 * and character references are understood.
 */
import { SaxesParser } from 'saxes';

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

export class XmlTreeError extends Error {
  constructor(
    readonly kind: 'doctype' | 'syntax' | 'empty' | 'limits',
    message: string,
  ) {
    super(message);
    this.name = 'XmlTreeError';
  }
}

export interface XmlTreeOptions {
  /** Drops namespace prefixes from element names. */
  localNames?: boolean;
  /** Deepest nesting of elements allowed (the root is at depth 1); parsing stops at the first deeper one. */
  maxDepth?: number;
  /** Most elements allowed in the document; parsing stops at the first one more. */
  maxElements?: number;
}

/**
 * The root element of `text`. With `maxDepth` and `maxElements` the tree (and the parser's own stack
 * of open tags) stays bounded whatever the text: parsing stops at the first element past a limit.
 */
export function parseXmlTree(text: string, options: XmlTreeOptions = {}): XmlElement {
  const maxDepth = options.maxDepth ?? Infinity;
  const maxElements = options.maxElements ?? Infinity;
  let elements = 0;
  const parser = new SaxesParser({ xmlns: false });
  const top: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack: XmlElement[] = [top];
  let failure: XmlTreeError | undefined;
  parser.on('doctype', () => {
    failure ??= new XmlTreeError(
      'doctype',
      'the document has a document type declaration (<!DOCTYPE>), which is refused',
    );
  });
  parser.on('opentag', (tag) => {
    elements += 1;
    if (stack.length > maxDepth) throw new XmlTreeError('limits', `elements are nested more than ${maxDepth} deep`);
    if (elements > maxElements) throw new XmlTreeError('limits', `there are more than ${maxElements} elements`);
    const name = options.localNames ? tag.name.replace(/^.*:/, '') : tag.name;
    const node: XmlElement = { name, attributes: { ...tag.attributes }, children: [], text: '' };
    stack[stack.length - 1].children.push(node);
    stack.push(node);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.on('text', (value) => {
    stack[stack.length - 1].text += value;
  });
  parser.on('cdata', (value) => {
    stack[stack.length - 1].text += value;
  });
  parser.on('error', (error) => {
    failure ??= new XmlTreeError('syntax', error.message.split('\n')[0]);
  });
  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof XmlTreeError) failure = error;
    failure ??= new XmlTreeError('syntax', (error instanceof Error ? error.message : String(error)).split('\n')[0]);
  }
  if (failure) throw failure;
  const root = top.children[0];
  if (!root) throw new XmlTreeError('empty', 'the document has no root element');
  return root;
}
