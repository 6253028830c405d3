/** Canned ACLs for bundle objects (no SDK import, so the CLI can list them without loading it). */

/**
 * The canned ACL of uploaded bundle objects. EC2 reads instance-store bundles as the
 * `aws-exec-read` grantee, which is why ec2-upload-bundle uses it; `none` sends no ACL (for buckets
 * whose policy grants access some other way).
 */
export type BundleAcl = 'aws-exec-read' | 'public-read' | 'bucket-owner-full-control' | 'none';
export const BUNDLE_ACLS: readonly BundleAcl[] = ['aws-exec-read', 'public-read', 'bucket-owner-full-control', 'none'];

export function needsAclsEnabled(acl: BundleAcl): boolean {
  return acl === 'aws-exec-read' || acl === 'public-read';
}
