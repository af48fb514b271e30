#!/usr/bin/env python3
"""Times one peer of qora (ik_llama.cpp or llama.cpp, through their PyPI bindings) on one
GGUF file, the way tools/bench_qora.c times qora: load, a prompt of random tokens evaluated as
one batch, greedy generation with end-of-text ignored, then the cache filled up to each long
context and a few timed decode steps there.

Long contexts are filled by copy (--fill copy, the default): the peer's saved KV cache, the
rows cached so far (the prompt, the generated tokens and, at a second context, those of the
first and its steps), is rewritten with those rows repeated up to the context and loaded back,
nothing more evaluated (see copy_fill); --fill eval evaluates every token. Where a peer's saved
state is not laid out as expected, that context is filled by evaluation and stderr says so.
--gen 0 generates nothing at the prompt's context, whose line then has no gen_tps: a long
run's figures there are not kept, and the prompt's rows are what a copy needs.

Prints one JSON line per context on stdout. Peers log to stderr.
usage: peers.py --peer ik_llama|llamacpp --file F [--threads 2] [--prompt 512] [--gen 128]
                [--ctx 4096,16384] [--steps 32] [--seed 1] [--fill copy|eval]
       peers.py --check ik_llama|llamacpp      (exit status 0 when the peer loads)
"""
import argparse
import ctypes
import json
import os
import resource
import struct
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

    # Sequence 0's saved state (llama_state_seq_get_data), for copy_fill. Both peers write a
    # head with the cell count, one metadata record per cell (state_meta), then the layers.
    state_flags = ()            # ik_llama.cpp's calls take a flags argument

    def state_get(self):
        lib, u8p = self.lib, ctypes.POINTER(ctypes.c_uint8)
        size = lib.llama_state_seq_get_size(self.ctx, 0, *self.state_flags)
        buf = np.empty(size, np.uint8)
        got = lib.llama_state_seq_get_data(self.ctx, buf.ctypes.data_as(u8p), size, 0,
                                           *self.state_flags)
        if got != size:
            raise RuntimeError("llama_state_seq_get_data wrote %d of %d bytes" % (got, size))
        return buf

    def state_set(self, buf):
        """Loads a saved state into sequence 0; returns the bytes the peer read (0: failed)."""
        u8p = ctypes.POINTER(ctypes.c_uint8)
        return self.lib.llama_state_seq_set_data(self.ctx, buf.ctypes.data_as(u8p), buf.size, 0,
                                                 *self.state_flags)


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

    def pos_max(self):
        return self.lib.llama_memory_seq_pos_max(self.lib.llama_get_memory(self.ctx), 0)

    # llama.cpp 0.3.36 (llama-context.cpp, llama-kv-cache.cpp): a magic number, the sequence
    # id, the stream count (one cache stream here) and the cell count; per cell its position,
    # its count of sequence ids (1) and the id; nothing after the layers.
    state_meta = np.dtype([("pos", "<i4"), ("n_seq", "<u4"), ("seq", "<i4")])
    state_seq = {"n_seq": 1, "seq": 0}
    state_tail = b""

    def state_head(self, buf):
        """(cell count, bytes of the head) of a saved state."""
        _, _, n_stream, cells = struct.unpack_from("<IiII", buf)
        if n_stream != 1:
            raise StateFormat("%d cache streams, expected 1" % n_stream)
        return cells, 16

    def make_head(self, buf, cells):
        return bytes(buf[:12]) + struct.pack("<I", cells)


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
    # The package binds no state calls: their signatures, from its include/llama.h.
    ctx, u8p, size = ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t
    i32, u32 = ctypes.c_int32, ctypes.c_uint32
    for name, args, res in (("llama_state_seq_get_size", [ctx, i32, u32], size),
                            ("llama_state_seq_get_data", [ctx, u8p, size, i32, u32], size),
                            ("llama_state_seq_set_data", [ctx, u8p, size, i32, u32], size),
                            ("llama_kv_cache_seq_pos_max", [ctx, i32], i32)):
        getattr(lib, name).argtypes, getattr(lib, name).restype = args, res
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

    def pos_max(self):
        return self.lib.llama_kv_cache_seq_pos_max(self.ctx, 0)

    # ik_llama.cpp 0.1.5 (src/llama.cpp, llama_data_write): the cell count; per cell its
    # position and a count of sequence ids that is 0 when one sequence is saved; after the
    # layers, a flag (0) for the recurrent-state rows that only Qwen3-Next models have.
    state_flags = (0,)
    state_meta = np.dtype([("pos", "<i4"), ("n_seq", "<u4")])
    state_seq = {"n_seq": 0}
    state_tail = struct.pack("<I", 0)

    def state_head(self, buf):
        return struct.unpack_from("<I", buf)[0], 4

    def make_head(self, buf, cells):
        return struct.pack("<I", cells)


def make_peer(name, path, n_ctx, threads):
    if name == "llamacpp":
        import llama_cpp
        return Mainline(llama_cpp, path, n_ctx, threads)
    if name == "ik_llama":
        return Ik(ik_bindings(), path, n_ctx, threads)
    raise SystemExit("unknown peer %s; choose ik_llama or llamacpp" % name)


class StateFormat(Exception):
    """A peer's saved state is not laid out as this script expects."""


def parse_state(peer, buf, n_cells):
    """Splits sequence 0's saved state, which must hold n_cells cells at positions
    0..n_cells-1, into its layers: (v_trans, [(header, rows, cell_axis)]), keys of every layer
    first, then values. A layer is a 12-byte header (type, row bytes; or, for transposed
    values, type, element bytes, dimensions) then its rows, one per cell (transposed: one run
    of cells per dimension). rows views buf as uint8 with the cells on cell_axis."""
    cells, off = peer.state_head(buf)
    if cells != n_cells:
        raise StateFormat("%d cells, expected %d" % (cells, n_cells))
    meta = np.frombuffer(buf, peer.state_meta, cells, off)
    off += meta.nbytes
    if not np.array_equal(np.sort(meta["pos"]), np.arange(cells)) or \
            any((meta[k] != v).any() for k, v in peer.state_seq.items()):
        raise StateFormat("cell metadata other than positions 0..%d of one sequence" % (cells - 1))
    v_trans, n_layer = struct.unpack_from("<II", buf, off)
    off += 8
    if v_trans > 1:
        raise StateFormat("value cache layout %d" % v_trans)
    layers = []
    for i in range(2 * n_layer):
        if i >= n_layer and v_trans:
            _, elem, dims = struct.unpack_from("<iII", buf, off)
            shape, axis = (dims, cells, elem), 1
        else:
            _, row = struct.unpack_from("<iQ", buf, off)
            shape, axis = (cells, row), 0
        size = int(np.prod(shape))
        if off + 12 + size > buf.size:
            raise StateFormat("layer %d runs past the end" % (i % n_layer))
        rows = buf[off + 12:off + 12 + size].reshape(shape)
        layers.append((bytes(buf[off:off + 12]), rows, axis))
        off += 12 + size
    if bytes(buf[off:]) != peer.state_tail:
        raise StateFormat("after the layers: %s, expected %s" % (bytes(buf[off:off + 16]).hex(),
                                                                  peer.state_tail.hex()))
    return v_trans, layers


def longer_state(peer, buf, n_cells, ctx):
    """A saved state of ctx cells at positions 0..ctx-1 whose K and V rows repeat those of
    buf's n_cells cells, every layer and head."""
    v_trans, layers = parse_state(peer, buf, n_cells)
    meta = np.zeros(ctx, peer.state_meta)
    meta["pos"] = np.arange(ctx)
    for k, v in peer.state_seq.items():
        meta[k] = v
    pieces = [peer.make_head(buf, ctx), meta.tobytes(), struct.pack("<II", v_trans,
                                                                     len(layers) // 2)]
    size = sum(len(p) for p in pieces) + len(peer.state_tail) + \
        sum(12 + rows.size // n_cells * ctx for _, rows, _ in layers)
    out = np.empty(size, np.uint8)
    at = 0
    for p in pieces:
        out[at:at + len(p)] = np.frombuffer(p, np.uint8)
        at += len(p)
    pick = np.arange(ctx) % n_cells         # cell i of the new state is old cell i mod n
    for header, rows, axis in layers:
        out[at:at + 12] = np.frombuffer(header, np.uint8)
        at += 12
        shape = list(rows.shape)
        shape[axis] = ctx
        n = int(np.prod(shape))
        np.take(rows, pick, axis=axis, out=out[at:at + n].reshape(shape))
        at += n
    out[at:] = np.frombuffer(peer.state_tail, np.uint8)
    return out


def copy_fill(peer, have, ctx):
    """Makes the peer's cache, which holds `have` tokens, hold ctx tokens at positions
    0..ctx-1 by saving sequence 0, repeating its K and V rows and loading the result. Decode
    time does not depend on the cached values, so this stands in for evaluating the missing
    tokens (minutes at 16K). Returns False, with the cache as it was, where the peer's state
    is not laid out as expected or the peer does not take the new one."""
    if peer.pos_max() != have - 1:
        raise RuntimeError("the cache ends at position %d, expected %d" % (peer.pos_max(),
                                                                         have - 1))
    state = peer.state_get()
    try:
        blob = longer_state(peer, state, have, ctx)
    except (StateFormat, struct.error, ValueError) as e:    # the last two: a state cut short
        print("peers.py: %s: its saved KV cache is not as expected (%s); filling %d tokens by "
              "evaluation instead of copy" % (peer.name, e, ctx), file=sys.stderr)
        return False
    if peer.state_set(blob) == blob.size and peer.pos_max() == ctx - 1:
        return True
    print("peers.py: %s did not load a KV cache of %d tokens; filling by evaluation instead "
          "of copy" % (peer.name, ctx), file=sys.stderr)
    if peer.state_set(state) != state.size or peer.pos_max() != have - 1:
        raise RuntimeError("cannot restore the KV cache after a failed copy fill")
    return False


def fill(peer, a, pos, ctx):
    """Fills the cache from pos to ctx tokens (--fill): by copying the pos rows cached, or by
    evaluating random tokens pos..ctx-1; returns how: "copy" or "eval"."""
    if a.fill == "copy" and copy_fill(peer, pos, ctx):
        return "copy"
    peer.decode(random_ids(a.seed, pos, ctx - pos), pos)
    return "eval"


def peak_rss_mb():
    """Peak resident memory in MB: VmHWM, which reset_peak_rss starts over, else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss():
    """Starts the peak over (Linux), so the saved states of a copy fill, freed by now, do not
    count: at 16K they are 1.5 GB that the peer itself never holds."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def generate(peer, n, pos):
    """n greedy decode steps from position pos; returns the seconds they took."""
    t0 = time.perf_counter()
    for i in range(n):
        peer.decode([peer.greedy()], pos + i)
    return time.perf_counter() - t0


def run(a):
    ctxs = a.ctxs
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
    rss = peak_rss_mb()
    base = {"impl": peer.name, "file": os.path.basename(a.file), "threads": a.threads}
    row = dict(base, ctx=a.prompt, load_s=round(load_s, 3),
               prompt_tps=round(a.prompt / prompt_s, 2))
    if a.gen > 0:
        row["gen_tps"] = round(a.gen / gen_s, 2)
    print(json.dumps(dict(row, peak_rss_mb=round(rss))), flush=True)

    pos = a.prompt + a.gen
    for c in ctxs:
        t0 = time.perf_counter()
        how = fill(peer, a, pos, c)
        fill_s = time.perf_counter() - t0
        if how == "copy":
            reset_peak_rss()
        gen_s = generate(peer, a.steps, c)
        rss = peak_rss_mb()
        row = dict(base, ctx=c, fill=how)
        if how == "eval":
            row["fill_tps"] = round((c - pos) / fill_s, 2)
        print(json.dumps(dict(row, gen_tps=round(a.steps / gen_s, 2), peak_rss_mb=round(rss))),
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


def parse_ctxs(p, a):
    """--ctx as bench_qora reads -c: whole numbers, the first above prompt + gen, each other
    more than steps above the one before; a usage error otherwise."""
    floor, out = a.prompt + a.gen, []
    for piece in a.ctx.split(",") if a.ctx else []:
        if not piece.isdigit() or int(piece) <= floor or int(piece) > 1 << 24:
            p.error("--ctx: %r: contexts are whole numbers, the first above prompt + gen "
                    "(%d), each other more than --steps above the one before"
                    % (a.ctx, a.prompt + a.gen))
        out.append(int(piece))
        floor = out[-1] + a.steps
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--gen", type=int, default=128,
                   help="tokens generated at the prompt's context (0: none)")
    p.add_argument("--ctx", default="")
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fill", choices=("copy", "eval"), default="copy")
    a = p.parse_args()
    if a.gen < 0:
        p.error("--gen: %d: the tokens generated are 0 or more" % a.gen)
    a.ctxs = parse_ctxs(p, a)
    try:
        run(a)
    except (ImportError, OSError, RuntimeError) as e:
        print("peers.py: %s: %s" % (a.peer, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
