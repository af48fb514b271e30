#!/usr/bin/env python3
"""Times one peer of qora (ik_llama.cpp or llama.cpp, through their PyPI bindings) on one
GGUF file, the way tools/bench_qora.c times qora: load, a prompt of random tokens evaluated as
one batch, greedy generation with end-of-text ignored, then the context filled with random
tokens to each long context and a few timed decode steps there.

Prints one JSON line per context on stdout. Peers log to stderr.
usage: peers.py --peer ik_llama|llamacpp --file F [--threads 2] [--prompt 512] [--gen 128]
                [--ctx 4096,16384] [--steps 32] [--seed 1]
       peers.py --check ik_llama|llamacpp      (exit status 0 when the peer loads)
"""
import argparse
import ctypes
import json
import os
import resource
import sys
import time

import numpy as np

MASK = (1 << 64) - 1
N_RANDOM = 128000   # ordinary tokens of the Llama 3 vocabulary; no special token is drawn


def random_ids(seed, start, n):
    """Token i of the benchmark's stream: splitmix64(seed + i) mod 128000, as in bench_qora.c."""
    out = []
    for i in range(start, start + n):
        z = (seed * 0x9E3779B97F4A7C15 + i * 0x9E3779B97F4A7C15) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append((z ^ (z >> 31)) % N_RANDOM)
    return out


class Batch:
    """A llama_batch for up to n tokens of sequence 0; only the last one asks for logits."""

    def __init__(self, lib, n):
        self.lib = lib
        self.b = lib.llama_batch_init(n, 0, 1)
        self.cap = n

    def fill(self, ids, pos):
        b = self.b
        b.n_tokens = len(ids)
        for i, t in enumerate(ids):
            b.token[i] = t
            b.pos[i] = pos + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 0
        b.logits[len(ids) - 1] = 1
        return b


class Peer:
    """What the timing loop needs from a peer: decode, logits, a cache reset."""

    def __init__(self, lib, path, n_ctx, threads):
        self.lib = lib
        self.open(path, n_ctx, threads)
        self.batch = Batch(lib, 512)
        self.one = Batch(lib, 1)

    def decode(self, ids, pos):
        for i in range(0, len(ids), self.batch.cap):
            piece = ids[i:i + self.batch.cap]
            b = self.one if len(piece) == 1 else self.batch
            rc = self.lib.llama_decode(self.ctx, b.fill(piece, pos + i))
            if rc != 0:
                raise RuntimeError("llama_decode returned %d at position %d" % (rc, pos + i))

    def greedy(self):
        p = self.lib.llama_get_logits_ith(self.ctx, -1)
        return int(np.ctypeslib.as_array(p, shape=(self.n_vocab,)).argmax())


class Mainline(Peer):
    name = "llamacpp"

    def open(self, path, n_ctx, threads):
        lib = self.lib
        lib.llama_backend_init()
        mp = lib.llama_model_default_params()
        self.model = lib.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError("llama.cpp cannot load " + path)
        cp = lib.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, 512, 512
        cp.n_threads = cp.n_threads_batch = threads
        cp.flash_attn_type = 1                      # LLAMA_FLASH_ATTN_TYPE_ENABLED
        self.ctx = lib.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise RuntimeError("llama.cpp cannot make a context of %d tokens" % n_ctx)
        self.n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))

    def clear(self):
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)


def ik_bindings():
    """ik_llama_cpp's ctypes module, with llama_model_params completed: version 0.1.5 omits
    its last four booleans, so the struct passed by value would end in stack garbage."""
    import importlib.util
    spec = importlib.util.find_spec("ik_llama_cpp")
    if spec is None:
        raise ImportError("ik_llama_cpp is not installed; run sh bench/peers-install.sh")
    # Its libllama.so carries no RPATH: load libggml.so first, so the loader finds it.
    lib_dir = os.path.join(os.path.dirname(spec.origin), "lib")
    ctypes.CDLL(os.path.join(lib_dir, "libggml.so"), mode=ctypes.RTLD_GLOBAL)
    from ik_llama_cpp import _ctypes_api as C

    class ModelParams(C.llama_model_params):
        _fields_ = [("merge_up_gate_exps", ctypes.c_bool), ("mtp", ctypes.c_bool),
                    ("dry_run", ctypes.c_bool), ("flash_attn", ctypes.c_bool)]

    lib = ctypes.CDLL(C._lib._name)     # own handle: the package's function objects stay as is
    for name in ("llama_backend_init", "llama_context_default_params", "llama_init_from_model",
                 "llama_model_get_vocab", "llama_vocab_n_tokens", "llama_batch_init",
                 "llama_decode", "llama_get_logits_ith", "llama_kv_cache_clear"):
        src, dst = getattr(C, name), getattr(lib, name)
        dst.argtypes, dst.restype = src.argtypes, src.restype
    lib.llama_model_default_params.argtypes = []
    lib.llama_model_default_params.restype = ModelParams
    lib.llama_model_load_from_file.argtypes = [ctypes.c_char_p, ModelParams]
    lib.llama_model_load_from_file.restype = ctypes.c_void_p
    return lib


class Ik(Peer):
    name = "ik_llama"

    def open(self, path, n_ctx, threads):
        lib = self.lib
        lib.llama_backend_init()
        mp = lib.llama_model_default_params()
        mp.flash_attn = True
        # Run-time repacking (-rtr) is ik_llama.cpp's advice for CPUs: here it more than
        # doubles its decode speed. IK_RTR=0 measures it without.
        mp.repack_tensors = os.environ.get("IK_RTR", "1") != "0"
        self.model = lib.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError("ik_llama.cpp cannot load " + path)
        cp = lib.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = n_ctx, 512, 512
        cp.n_threads = cp.n_threads_batch = threads
        cp.flash_attn = True
        self.ctx = lib.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise RuntimeError("ik_llama.cpp cannot make a context of %d tokens" % n_ctx)
        self.n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))

    def clear(self):
        self.lib.llama_kv_cache_clear(self.ctx)


def make_peer(name, path, n_ctx, threads):
    if name == "llamacpp":
        import llama_cpp
        return Mainline(llama_cpp, path, n_ctx, threads)
    if name == "ik_llama":
        return Ik(ik_bindings(), path, n_ctx, threads)
    raise SystemExit("unknown peer %s; choose ik_llama or llamacpp" % name)


def generate(peer, n, pos):
    """n greedy decode steps from position pos; returns the seconds they took."""
    t0 = time.perf_counter()
    for i in range(n):
        peer.decode([peer.greedy()], pos + i)
    return time.perf_counter() - t0


def run(a):
    ctxs = [int(c) for c in a.ctx.split(",") if c]
    n_ctx = max([a.prompt + a.gen] + [c + a.steps for c in ctxs])
    t0 = time.perf_counter()
    peer = make_peer(a.peer, a.file, n_ctx, a.threads)
    load_s = time.perf_counter() - t0

    peer.decode(random_ids(a.seed + 1, 0, 8), 0)     # warm-up: every weight touched once
    peer.clear()
    ids = random_ids(a.seed, 0, a.prompt)
    t0 = time.perf_counter()
    peer.decode(ids, 0)
    prompt_s = time.perf_counter() - t0
    gen_s = generate(peer, a.gen, a.prompt)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = {"impl": peer.name, "file": os.path.basename(a.file), "threads": a.threads}
    print(json.dumps(dict(base, ctx=a.prompt, load_s=round(load_s, 3),
                          prompt_tps=round(a.prompt / prompt_s, 2),
                          gen_tps=round(a.gen / gen_s, 2), peak_rss_mb=round(rss))), flush=True)

    pos = a.prompt + a.gen
    for c in ctxs:
        t0 = time.perf_counter()
        peer.decode(random_ids(a.seed, pos, c - pos), pos)
        fill_s = time.perf_counter() - t0
        gen_s = generate(peer, a.steps, c)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(dict(base, ctx=c, fill_tps=round((c - pos) / fill_s, 2),
                              gen_tps=round(a.steps / gen_s, 2), peak_rss_mb=round(rss))),
              flush=True)
        pos = c + a.steps


def check(name):
    """Exits 0 when the peer's library loads (the installer and the runner ask this)."""
    try:
        if name == "llamacpp":
            import llama_cpp  # noqa: F401
        elif name == "ik_llama":
            ik_bindings()
        else:
            raise ImportError("unknown peer " + name)
    except (ImportError, OSError, AttributeError) as e:
        print("peers.py: %s cannot be loaded: %s" % (name, e), file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--gen", type=int, default=128)
    p.add_argument("--ctx", default="")
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    try:
        run(a)
    except (ImportError, OSError, RuntimeError) as e:
        print("peers.py: %s: %s" % (a.peer, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
