-- LuaRocks package of qora: `luarocks --lua-version 5.4 make rockspec/qora-*.rockspec`
-- from the top of the source tree builds with the Makefile and installs the qora module
-- (qora.core and lua/qora/*.lua) and the qora command.
rockspec_format = "3.0"
package = "qora"
version = "0.1.0-1"             -- qora._VERSION (lua/qora/init.lua), then -1
source = {
  url = "git+file://.",
}
description = {
  summary = "CPU inference for SmolLM3-family GGUF models, from Lua",
  detailed = [[
qora loads SmolLM3 and Llama-family (SmolLM2) GGUF files and streams generated text token
by token from Lua, with chat templates and sampling policies; `qora` is its command.]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  CJSON = { header = "cjson/cJSON.h" },
  UTF8PROC = { header = "utf8proc.h" },
}
build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA = "$(LUA)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LIBDIR = "$(LIBDIR)",
    LUA_DIR = "$(LUADIR)",
    BINDIR = "$(BINDIR)",
  },
}
