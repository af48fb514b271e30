"""lua_string(s): a Lua string literal for s, ASCII only, split to keep lines short."""


def lua_string(s, width=76):
    out = []
    for ch in s:
        cp = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 0x20 <= cp < 0x7F:
            out.append(ch)
        elif cp < 0x80:
            out.append("\\%03d" % cp)
        else:
            out.append("\\u{%X}" % cp)
    pieces, piece = [], ""
    for token in out:
        if len(piece) + len(token) > width:
            pieces.append(piece)
            piece = ""
        piece += token
    pieces.append(piece)
    return " ..\n    ".join('"' + p + '"' for p in pieces)
