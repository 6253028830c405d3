/** The largest image an instance-store bundle holds (10 GiB): the bundler refuses more, the image builder builds no more. */
export const MAX_IMAGE_SIZE = 10 * 1024 * 1024 * 1024;
