/**
 * Opens text in the user's editor ($VISUAL, then $EDITOR, then vi), as lxc's edit commands do,
 * and returns what was saved. The temporary file is removed whatever happens.
 */
export async function editInEditor(text: string): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(file, text);
    const editor = Deno.env.get("VISUAL") || Deno.env.get("EDITOR") || "vi";
    // Through sh so that an editor given with arguments ("code --wait") works as in lxc.
    const st = await new Deno.Command("sh", { args: ["-c", `${editor} "$1"`, "sh", file] }).spawn().status;
    if (!st.success) throw new Error(`Editor "${editor}" exited with status ${st.code}`);
    return await Deno.readTextFile(file);
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}
