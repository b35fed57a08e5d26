/** Items per streamed message: each stays far below the gRPC size limit however many pods a node runs. */
export const PAGE = 100;

/** Writes `items` as consecutive pages; nothing at all when there are none. */
export async function writePages<T>(items: T[], write: (page: T[]) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += PAGE) await write(items.slice(i, i + PAGE));
}
