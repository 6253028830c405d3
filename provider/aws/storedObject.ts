/** An object as S3 holds it, from a listing or the answer to a PUT. */
export interface StoredObject {
  key: string;
  size: number;
  /** The ETag S3 answered, unquoted. */
  etag: string;
}
