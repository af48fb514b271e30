#!/bin/sh
# Installs qora with LuaRocks into build/rocktree and proves, with a clean LUA_PATH/LUA_CPATH
# (the tree's only, from `luarocks path`), that require("qora") loads the installed copy and
# that the installed qora command runs. Prints TAP. Run from the top of the source tree.
tree=build/rocktree
log=build/rock_check.log
rocks="luarocks --lua-version 5.4"
echo "1..3"

rm -rf "$tree"
if $rocks make --tree "$tree" rockspec/qora-*.rockspec >"$log" 2>&1; then
  echo "ok 1 - luarocks make installs the rock into $tree"
else
  echo "not ok 1 - luarocks make installs the rock into $tree"
  sed 's/^/# /' "$log" | tail -n 20
fi

unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4
eval "$($rocks path --tree "$tree" --no-bin)"
export LUA_PATH LUA_CPATH
top=$(pwd)
# Leave the source tree so that ./?.lua in the default path cannot find the working copy.
if out=$(cd / && lua5.4 -e '
  local qora = require("qora")
  local lua_file = package.searchpath("qora", package.path)
  local so_file = package.searchpath("qora.core", package.cpath)
  assert(lua_file:find("rocktree", 1, true), "qora came from " .. lua_file)
  assert(so_file:find("rocktree", 1, true), "qora.core came from " .. so_file)
  assert(type(qora.load) == "function" and qora.rng(1):uniform() < 1)
  print(lua_file)' 2>&1); then
  echo "ok 2 - require(\"qora\") works from the installed tree"
else
  echo "not ok 2 - require(\"qora\") works from the installed tree"
  echo "$out" | sed 's/^/# /'
fi

if (cd / && "$top/$tree/bin/qora" --help) 2>&1 | grep -q "^Usage: qora"; then
  echo "ok 3 - the installed qora --help runs"
else
  echo "not ok 3 - the installed qora --help runs"
  (cd / && "$top/$tree/bin/qora" --help) 2>&1 | sed 's/^/# /' | tail -n 5
fi
