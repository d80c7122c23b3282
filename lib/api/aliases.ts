/**
 * LXD 5.0 still serves its API from before instances: /1.0/containers… answers as
 * /1.0/instances… does (only containers exist here). pylxd 2.2, Debian's, and other older
 * clients speak only that one.
 * @module
 */

const OLD = "/1.0/containers";

/** The request for /1.0/instances… when it asks /1.0/containers…; otherwise req itself. */
export function containersAlias(req: Request): Request {
  const q = req.url.indexOf("?");
  const at = req.url.indexOf(OLD);
  if (at < 0 || (q >= 0 && at > q)) return req;
  const url = new URL(req.url);
  if (url.pathname !== OLD && !url.pathname.startsWith(`${OLD}/`)) return req;
  url.pathname = `/1.0/instances${url.pathname.slice(OLD.length)}`;
  return new Request(url, req);
}
