/** Building response XML with escaping, and reading request XML with a real parser (saxes). */
import { parseXmlTree, XmlElement, XmlTreeError } from '../../provider/bundle/xmlTree';

/** Markup that is already serialized; plain strings given to `el` are escaped instead. */
export class XmlFragment {
  constructor(readonly text: string) {}
}

export type XmlContent = XmlFragment | string | number | boolean | undefined | null | readonly XmlContent[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ENTITIES[character]);
}

function render(content: XmlContent): string {
  if (content === undefined || content === null) return '';
  if (content instanceof XmlFragment) return content.text;
  if (Array.isArray(content)) return content.map(render).join('');
  return escapeXml(String(content));
}

function attributesText(attributes: Readonly<Record<string, string>>): string {
  return Object.entries(attributes)
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
}

export function element(
  name: string,
  attributes: Readonly<Record<string, string>>,
  ...content: XmlContent[]
): XmlFragment {
  const inner = content.map(render).join('');
  const open = `${name}${attributesText(attributes)}`;
  return new XmlFragment(inner === '' ? `<${open}/>` : `<${open}>${inner}</${name}>`);
}

export function el(name: string, ...content: XmlContent[]): XmlFragment {
  return element(name, {}, ...content);
}

/** The element, or nothing when the value is undefined. */
export function opt(name: string, value: string | number | boolean | undefined): XmlFragment | undefined {
  return value === undefined ? undefined : el(name, value);
}

/** An EC2-style list: `<name><item>…</item>…</name>`. */
export function items<T>(name: string, values: readonly T[], item: (value: T) => XmlContent): XmlFragment {
  return el(
    name,
    values.map((value) => el('item', item(value))),
  );
}

export function xmlDocument(root: XmlFragment): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${root.text}`;
}

/** An element with its local name (namespace prefixes removed). */
export type XmlNode = XmlElement;

export class XmlSyntaxError extends Error {}

/** Parses a document and returns its root element. Document type declarations are refused. */
export function parseXml(text: string): XmlNode {
  try {
    return parseXmlTree(text, { localNames: true });
  } catch (error) {
    if (error instanceof XmlTreeError)
      throw new XmlSyntaxError(
        error.kind === 'doctype' ? 'document type declarations are not accepted' : error.message,
      );
    throw error;
  }
}

export function childNodes(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((child) => child.name === name);
}

export function childText(node: XmlNode, name: string): string | undefined {
  return node.children.find((child) => child.name === name)?.text;
}
