import type { Context } from "hono";
import { badRequest } from "../util/mod.ts";

/** Parses a JSON request body; 400 with the parser's reason when it is not JSON. */
export async function readJson<T>(c: Context): Promise<T> {
  const text = await c.req.text();
  if (text.trim() === "") return {} as T;
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== "object") throw new Error("expected a JSON object");
    return v as T;
  } catch (e) {
    throw badRequest(`Invalid JSON body: ${e instanceof Error ? e.message : String(e)}`);
  }
}
