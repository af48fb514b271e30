"""Writes spec/fixtures/chat_cases.lua: conversations rendered by the real Jinja templates.

Renders SmolLM3's official template, llama.cpp's copy of it and SmolLM2's ChatML template
(read from the model file) with Jinja2 set up as transformers sets it up, first checking that
this reproduces the eleven examples of shared/reference/smollm3-chat-examples.json. The cases
go beyond those examples (tools of every kind, Unicode whitespace, flags in odd places). Run
once from the top of the tree after `make model`: python3 spec/gen/chat_cases.py. The suite
reads the committed file, never Python.
"""
import datetime
import json
import struct

from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lua_literal import lua_string

REF = "../shared/reference/"
MODEL = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
TODAY = datetime.date(2026, 12, 4)


class Generation(Extension):
    """{% generation %}...{% endgeneration %} renders its body, as transformers' tracker."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, loopcontrols])
    env.globals["strftime_now"] = TODAY.strftime
    return env


def gguf_string(path, key):
    data = open(path, "rb").read(4 << 20)
    at = data.index(key.encode()) + len(key)
    kind, n = struct.unpack_from("<IQ", data, at)
    assert kind == 8
    return data[at + 12:at + 12 + n].decode()


TOOL = {"type": "function", "function": {
    "name": "it's_odd", "description": "Quotes \"both\" and 'single', tab\tand é \u200b",
    "parameters": {"type": "object", "properties": {
        "n": {"type": "number", "default": 1.0, "maximum": 1e16, "step": 0.1},
        "flag": {"type": "boolean", "default": True}, "none": {"default": None},
        "enum": {"enum": ["a", "b\"c", 3, -0.0]}}, "required": []}}}
PY_TOOL = {"name": "lookup", "args": {"q": "str"}, "returns": [1, 2.5, False, {}]}
USER = {"role": "user", "content": "Hi"}
ASK = {"add_generation_prompt": True}
NO_THINK = {"add_generation_prompt": True, "enable_thinking": False}

SMOLLM3 = [
    ("xml and python tools", [USER], {**ASK, "xml_tools": [TOOL], "python_tools": [PY_TOOL]}),
    ("python tools only, no think", [USER], {**NO_THINK, "python_tools": [PY_TOOL, TOOL]}),
    ("a tool given as a string is printed as it is", [USER],
     {**ASK, "xml_tools": ["def f(): 'not a dict'", TOOL]}),
    ("an empty tool list is no tools", [USER], {**ASK, "xml_tools": []}),
    ("Unicode whitespace is stripped from the system prompt",
     [{"role": "system", "content": "Be nice.\u3000\u00a0\u2003\u0085 \n\t"}, USER], ASK),
    ("a system prompt of only /think gives the default",
     [{"role": "system", "content": "/think  "}, USER], NO_THINK),
    ("a system prompt of only /no_think gives the default",
     [{"role": "system", "content": "/no_think"}, USER], ASK),
    ("/system_override drops the tools",
     [{"role": "system", "content": "Custom. /system_override\n"}, USER],
     {**ASK, "xml_tools": [TOOL]}),
    ("/system_override with /no_think",
     [{"role": "system", "content": "/system_override /no_think Terse. "}, USER,
      {"role": "assistant", "content": "\nOk"}], ASK),
    ("past answers lose leading newlines, keep trailing ones (think)",
     [USER, {"role": "assistant", "content": "\n\n<think>\nx\n</think>\nHello\n\n"}, USER], ASK),
    ("non-string contents render as empty",
     [USER, {"role": "assistant", "content": None},
      {"role": "user", "content": [{"type": "text", "text": "x"}]}], NO_THINK),
    ("tool results in think mode",
     [USER, {"role": "assistant", "content": "<tool_call>{}</tool_call>"},
      {"role": "tool", "content": "42"}], {**ASK, "xml_tools": [TOOL]}),
    ("a system prompt alone", [{"role": "system", "content": "Alone."}], NO_THINK),
    ("flags mid-text",
     [{"role": "system", "content": "A/thinkB /no_thinkC"}, USER], {"enable_thinking": True}),
]

LLAMACPP = [
    ("user only, think", [USER], ASK),
    ("system prompt and history, no think",
     [{"role": "system", "content": "Be brief. "}, USER,
      {"role": "assistant", "content": "\nHello"}, {"role": "tool", "content": "t"}], NO_THINK),
    ("/no_think in the system prompt", [{"role": "system", "content": "/no_think"}, USER], ASK),
    ("the llama.cpp vector prompt",
     [{"role": "user", "content": "What is the capital of France?"}], NO_THINK),
]

CHATML = [
    ("user only", [{"role": "user", "content": "What is the capital of France?"}], ASK),
    ("system and history",
     [{"role": "system", "content": "Be brief."}, USER,
      {"role": "assistant", "content": "\nHello!"}, {"role": "user", "content": "Bye"}], ASK),
    ("no generation prompt", [USER, {"role": "assistant", "content": "Hey"}], {}),
    ("other roles are written as they are",
     [USER, {"role": "tool", "content": "42"}, {"role": "assistant", "content": ""}], ASK),
    ("no messages", [], ASK),
]


def check_examples(official):
    examples = json.load(open(REF + "smollm3-chat-examples.json"))
    for case in examples:
        got = official.render(messages=case["messages"], **case["options"])
        assert got == case["rendered"], case["name"]
    return len(examples)


def main():
    env = environment()
    official = env.from_string(open(REF + "SmolLM3-3B.official.jinja").read())
    llamacpp = env.from_string(open(REF + "SmolLM3-3B.llama-cpp.jinja").read())
    chatml = env.from_string(gguf_string(MODEL, "tokenizer.chat_template"))
    n = check_examples(official)
    with open("spec/fixtures/chat_cases.lua", "w") as f:
        f.write("-- chat_cases.lua: conversations and what the real Jinja templates render for\n")
        f.write("-- them (date 04 December 2026). Generated once by spec/gen/chat_cases.py with\n")
        f.write(f"-- Jinja2, which first reproduced the {n} official examples; the expectations\n")
        f.write("-- are Jinja's, not qora's. Messages and options are JSON texts.\n")
        f.write("return {\n")
        for name, tpl, cases in (("smollm3", official, SMOLLM3),
                                 ("smollm3-llamacpp", llamacpp, LLAMACPP),
                                 ("chatml", chatml, CHATML)):
            for title, messages, options in cases:
                rendered = tpl.render(messages=messages, **options)
                f.write(f"  {{ template = {lua_string(name)}, name = {lua_string(title)},\n")
                f.write(f"    messages = {lua_string(json.dumps(messages))},\n")
                f.write(f"    options = {lua_string(json.dumps(options))},\n")
                f.write(f"    rendered = {lua_string(rendered)} }},\n")
        f.write("}\n")


main()
