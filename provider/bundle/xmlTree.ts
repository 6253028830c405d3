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
    readonly kind: 'doctype' | 'syntax' | 'empty',
    message: string,
  ) {
    super(message);
    this.name = 'XmlTreeError';
  }
}

/** The root element of `text`; `localNames` drops namespace prefixes from element names. */
export function parseXmlTree(text: string, options: { localNames?: boolean } = {}): XmlElement {
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
    failure ??= new XmlTreeError('syntax', (error instanceof Error ? error.message : String(error)).split('\n')[0]);
  }
  if (failure) throw failure;
  const root = top.children[0];
  if (!root) throw new XmlTreeError('empty', 'the document has no root element');
  return root;
}
