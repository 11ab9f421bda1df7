#!/usr/bin/env python3
"""Writes the binary seed corpora of tests/fuzz/corpus/ (the text ones,
units, disk_spec and script, are written by hand).

Each seed is a small, real input in the harness's own input format (see
the comment at the top of each <target>_fuzz.cpp): a well-formed session
that reaches the code behind the parser, from which the fuzzer mutates.
Run it from anywhere; it rewrites only the files it names.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# --- xenstore: rounds of [selector u8][length u16][bytes] -----------------

XS = {name: number for number, name in enumerate(
    "control directory read get_perms watch unwatch transaction_start transaction_end "
    "introduce release get_domain_path write mkdir rm set_perms watch_event error "
    "is_domain_introduced resume set_target".split())}
XS.update(reset_watches=21, directory_part=22)


def xs_msg(kind, *fields, req_id=1, tx_id=0, nul=True):
    payload = b"".join(f.encode() + b"\0" for f in fields)
    if not nul and payload.endswith(b"\0"):
        payload = payload[:-1]
    return struct.pack("<IIII", XS[kind], req_id, tx_id, len(payload)) + payload


def xs_round(selector, data):
    return struct.pack("<BH", selector, len(data)) + data


DOM0, GUEST1 = 0, 1
xenstore_seeds = {
    "read": [(DOM0, xs_msg("read", "/local/domain"))],
    "write-read": [(DOM0, xs_msg("write", "/local/domain/1/data/x", nul=False) + b"\0value"),
                   (DOM0, xs_msg("read", "/local/domain/1/data/x"))],
    "directory": [(DOM0, xs_msg("directory", "/local/domain")),
                  (DOM0, xs_msg("directory_part", "/local/domain", "0"))],
    "mkdir-rm": [(DOM0, xs_msg("mkdir", "/local/domain/1/device/vbd/51712")),
                 (DOM0, xs_msg("rm", "/local/domain/1/device"))],
    "perms": [(DOM0, xs_msg("mkdir", "/local/domain/1/device")),
              (DOM0, xs_msg("set_perms", "/local/domain/1/device", "n1", "r0")),
              (DOM0, xs_msg("get_perms", "/local/domain/1/device"))],
    "watch": [(DOM0, xs_msg("watch", "/local/domain/1", "tok")),
              (GUEST1, xs_msg("write", "data/y", nul=False) + b"\0v"),
              (DOM0, xs_msg("unwatch", "/local/domain/1", "tok")),
              (DOM0, xs_msg("reset_watches"))],
    "transaction": [(DOM0, xs_msg("transaction_start", "")),
                    (DOM0, xs_msg("write", "/local/domain/1/t", nul=False, tx_id=1) + b"\0a"),
                    (DOM0, xs_msg("transaction_end", "T", tx_id=1))],
    "introduce-release": [(DOM0, xs_msg("introduce", "3", "4096", "5")),
                          (DOM0, xs_msg("is_domain_introduced", "3")),
                          (DOM0, xs_msg("get_domain_path", "3")),
                          (DOM0, xs_msg("set_target", "3", "1")),
                          (DOM0, xs_msg("release", "3"))],
    "control": [(DOM0, xs_msg("control", "quota")),
                (DOM0, xs_msg("control", "log", "on"))],
    "guest-ring": [(GUEST1, xs_msg("write", "data/x", nul=False) + b"\0guest"),
                   (GUEST1, xs_msg("read", "data/x")),
                   (GUEST1, xs_msg("read", "/local/domain/0"))],
    "guest-bad-indices": [(GUEST1 | 0x10, struct.pack("<II", 0, 4096) + xs_msg("read", "x"))],
    "split-frame": [(DOM0, xs_msg("read", "/local/domain")[:7]),
                    (DOM0, xs_msg("read", "/local/domain")[7:])],
    "oversized-len": [(DOM0, struct.pack("<IIII", XS["read"], 1, 0, 5000))],
    "domain-gone": [(DOM0, xs_msg("introduce", "3", "4096", "5")), (0xF3, b"")],
}
for name, rounds in xenstore_seeds.items():
    write("xenstore", name, b"".join(xs_round(s, d) for s, d in rounds))


# --- blkback_request ------------------------------------------------------
# [config u8][features u8][sectors u64][max indirect u16 if features & 8]
# [ring area][8 granted pages]

def segment(gref, first=0, last=7):
    return struct.pack("<IBBH", gref, first, last, 0)


def rw_request(op, nseg, id_, sector):
    segs = b"".join(segment(i) for i in range(nseg)) + segment(0) * (11 - nseg)
    return struct.pack("<BBH4xQQ", op, nseg, 0, id_, sector) + segs


def discard_request(id_, sector, count, flag=0):
    return struct.pack("<BBH4xQQQ", 5, flag, 0, id_, sector, count).ljust(112, b"\0")


def indirect_request(op, nseg, id_, sector, grefs):
    body = struct.pack("<BBH4xQQH2x", 6, op, nseg, id_, sector, 0)
    body += b"".join(struct.pack("<I", g) for g in grefs).ljust(32, b"\0") + b"\0" * 4
    return body.ljust(112, b"\0")


def x86_32_request(native):
    # The i386 layout: no padding before id (blkif_x86_32.hpp).
    return (native[:4] + native[8:]).ljust(108, b"\0")[:108]


def blkback(config, features, sectors, requests, pages=b"", max_indirect=None, slot=112):
    head = struct.pack("<BBQ", config, features, sectors)
    if max_indirect is not None:
        head += struct.pack("<H", max_indirect)
    ring = struct.pack("<IIII", len(requests), 1, 0, 1).ljust(64, b"\0")
    ring += b"".join(r.ljust(slot, b"\0") for r in requests)
    ring = ring.ljust(4096, b"\0")
    return head + ring + pages


FLUSH, BARRIER, DISCARD = 0x20, 0x40, 0x80
write("blkback_request", "read-write",
      blkback(0, 0, 2048, [rw_request(0, 1, 1, 0), rw_request(1, 11, 2, 8)]))
write("blkback_request", "flush-barrier-discard",
      blkback(FLUSH | BARRIER | DISCARD, 1, 2048,
              [rw_request(3, 0, 1, 0), rw_request(2, 1, 2, 0), discard_request(3, 8, 64, 1)]))
write("blkback_request", "read-only",
      blkback(0x10, 0, 2048, [rw_request(1, 1, 1, 0), rw_request(0, 1, 2, 0)]))
write("blkback_request", "past-the-end",
      blkback(0, 0, 16, [rw_request(0, 2, 1, 15), discard_request(2, 2**64 - 1, 2)]))
write("blkback_request", "unknown-op", blkback(0, 0, 2048, [rw_request(4, 1, 1, 0),
                                                             rw_request(200, 1, 2, 0)]))
write("blkback_request", "logical-4k", blkback(0, 0x6, 2048, [rw_request(0, 1, 1, 3)]))
indirect_page = b"".join(segment(i) for i in range(512))
write("blkback_request", "indirect",
      blkback(0, 0x8, 1 << 20,
              [indirect_request(0, 40, 1, 0, [0]), indirect_request(1, 256, 2, 0, [0])],
              pages=indirect_page * 2, max_indirect=256))
write("blkback_request", "indirect-bad-gref",
      blkback(0, 0x8, 1 << 20, [indirect_request(0, 600, 1, 0, [0, 9])],
              pages=indirect_page, max_indirect=256))
write("blkback_request", "x86_32",
      blkback(1, 0, 2048, [x86_32_request(rw_request(0, 1, 1, 0)),
                           x86_32_request(rw_request(1, 2, 2, 8))], slot=108))
ring = bytearray(blkback(0, 0, 2048, [rw_request(0, 1, 1, 0)]))
write("blkback_request", "second-pass-overflow", bytes(ring) + struct.pack("<I", 1000))
write("blkback_request", "attach-live",
      blkback(0x8, 0, 2048, [rw_request(0, 1, 1, 0)]))


# --- blkfront_response ----------------------------------------------------
# [config u8][first index u32], rounds: [0][count-1][op...] queue requests;
# [1][how][responses...] the backend answers

def response(id_, op, status=0, x86_32=False):
    if x86_32:
        return struct.pack("<QBxh", id_, op, status)
    return struct.pack("<QBxh4x", id_, op, status)


def blkfront(config, first, rounds):
    return struct.pack("<BI", config, first) + b"".join(rounds)


ops = [0, 1, 3, 2, 5, 6, 0]  # read write flush barrier discard indirect(read) read
queue = bytes([0, len(ops) - 1]) + bytes(ops) + b"\0"  # the indirect one reads
answers = b"".join(response(i, op if op != 6 else 0) for i, op in enumerate(ops))
write("blkfront_response", "every-op",
      blkfront(0, 0, [queue, bytes([1, len(ops)]) + answers]))
write("blkfront_response", "x86_32",
      blkfront(1, 0, [bytes([0, 1, 0, 1]),
                      bytes([1, 2]) + response(0, 0, x86_32=True) + response(1, 1, -1, True)]))
write("blkfront_response", "wrapping-index",
      blkfront(2, 0xfffffffe, [bytes([0, 3, 0, 0, 1, 1]),
                               bytes([1, 4]) + b"".join(response(i, [0, 0, 1, 1][i], -2)
                                                        for i in range(4))]))
write("blkfront_response", "unknown-id",
      blkfront(0, 0, [bytes([0, 0, 0]), bytes([1, 1]) + response(7, 0)]))
write("blkfront_response", "duplicate",
      blkfront(0, 0, [bytes([0, 0, 0]), bytes([1, 2]) + response(0, 0) + response(0, 0)]))
write("blkfront_response", "wrong-op",
      blkfront(0, 0, [bytes([0, 0, 1]), bytes([1, 1]) + response(0, 0)]))
write("blkfront_response", "prod-overflow",
      blkfront(0, 0, [bytes([0, 0, 0]), bytes([1, 0x80]) + struct.pack("<I", 1000)]))


# --- desc_chain: [config u8][max_bytes u32][last_avail u16][guest memory] ---

def desc(addr, length, flags=0, next_=0):
    return struct.pack("<QIHH", addr, length, flags, next_)


NEXT, WRITE, INDIRECT = 1, 2, 4


def split_queue(size, descs, heads, extra=b"", avail_idx=None):
    table = b"".join(descs).ljust(16 * size, b"\0")
    avail = struct.pack("<HH", 0, len(heads) if avail_idx is None else avail_idx)
    avail += b"".join(struct.pack("<H", h) for h in heads).ljust(2 * size, b"\0") + b"\0\0"
    memory = table + avail
    memory = memory.ljust((len(memory) + 3) & ~3, b"\0")
    memory += b"\0" * (4 + 8 * size + 2)  # the used ring
    return memory.ljust(0x2000, b"\0") + extra


def desc_chain(config, max_bytes, memory, last_avail=0):
    return struct.pack("<BIH", config, max_bytes, last_avail) + memory


# A virtio-blk request: the 16-byte header, the data, the status byte.
blk = [desc(0x2000, 16, NEXT, 1), desc(0x3000, 512, NEXT | WRITE, 2), desc(0x4000, 1, WRITE)]
write("desc_chain", "direct", desc_chain(3, 1 << 20, split_queue(8, blk, [0])))
table = b"".join([desc(0x2000, 16, NEXT, 1), desc(0x3000, 4096, NEXT, 2), desc(0x4000, 1, WRITE)])
write("desc_chain", "indirect",
      desc_chain(0x15, 1 << 20,
                 split_queue(8, [desc(0x5000, len(table), INDIRECT)], [0]).ljust(0x5000, b"\0")
                 + table))
write("desc_chain", "loop", desc_chain(3, 1 << 20,
                                       split_queue(8, [desc(0x2000, 16, NEXT, 1),
                                                       desc(0x3000, 16, NEXT, 0)], [0])))
write("desc_chain", "straddling-regions",
      desc_chain(3, 1 << 20, split_queue(8, [desc(0xff00, 0x200, WRITE)], [0])))
write("desc_chain", "bad-head", desc_chain(3, 1 << 20, split_queue(8, blk, [9])))
write("desc_chain", "avail-overrun", desc_chain(3, 1 << 20, split_queue(8, blk, [0], avail_idx=40)))
write("desc_chain", "readable-after-writable",
      desc_chain(3, 1 << 20, split_queue(8, [desc(0x3000, 16, NEXT | WRITE, 1),
                                             desc(0x2000, 16)], [0, 0])))


# --- used_ring: [config u8], rounds [0][count-1]([length u16])... add chains;
# [1][how]([id u32][len u32])... the device publishes --------------------

def used(config, rounds):
    return bytes([config]) + b"".join(rounds)


def add(*lengths):
    return bytes([0, len(lengths) - 1]) + b"".join(struct.pack("<H", n - 1) for n in lengths)


def publish(*elems, idx=None):
    how = len(elems) | (0x80 if idx is not None else 0)
    body = bytes([1, how]) + b"".join(struct.pack("<II", h, n) for h, n in elems)
    return body + (struct.pack("<H", idx) if idx is not None else b"")


write("used_ring", "direct", used(3, [add(3, 1), publish((0, 513), (3, 0))]))
write("used_ring", "indirect", used(0x33, [add(3, 20, 2), publish((1, 4096), (0, 1), (2, 1))]))
write("used_ring", "unknown-head", used(3, [add(3), publish((5, 1))]))
write("used_ring", "duplicate-head", used(3, [add(3), publish((0, 1), (0, 1))]))
write("used_ring", "idx-ahead", used(3, [add(3), publish(idx=7)]))
write("used_ring", "refill", used(1, [add(1, 1), publish((0, 1)), add(1), publish((1, 1), (0, 1))]))


# --- vhost_user: messages [fds u8][header 12][payload] -------------------

VU = dict(get_features=1, set_features=2, set_owner=3, reset_owner=4, set_mem_table=5,
          set_vring_num=8, set_vring_addr=9, set_vring_base=10, get_vring_base=11,
          set_vring_kick=12, set_vring_call=13, set_vring_err=14, get_protocol_features=15,
          set_protocol_features=16, get_queue_num=17, set_vring_enable=18, get_config=24,
          set_config=25)
VERSION, NEED_REPLY = 1, 1 << 3
EVENTFD, MEMORY_FILE = 0, 4


def vu(request, payload=b"", fds=0, kind=EVENTFD, flags=VERSION):
    return bytes([fds | kind]) + struct.pack("<III", VU[request], flags, len(payload)) + payload


USER = 0x7f0000000000
PROTOCOL_FEATURES = (1 << 0) | (1 << 3) | (1 << 9)  # mq, reply_ack, config
FEATURES = (1 << 32) | (1 << 30) | (1 << 28) | (1 << 29)  # VERSION_1, PROTOCOL_FEATURES, INDIRECT, EVENT_IDX
memory_table = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x40000, USER, 0)
vring_addr = struct.pack("<IIQQQQ", 0, 0, USER, USER + 0x2000, USER + 0x1000, 0)
handshake = [
    vu("get_features"), vu("set_features", struct.pack("<Q", FEATURES)),
    vu("get_protocol_features"), vu("set_protocol_features", struct.pack("<Q", PROTOCOL_FEATURES)),
    vu("set_owner"), vu("get_queue_num"),
    vu("get_config", struct.pack("<III", 0, 60, 0) + b"\0" * 60),
    vu("set_mem_table", memory_table, fds=1, kind=MEMORY_FILE, flags=VERSION | NEED_REPLY),
    vu("set_vring_num", struct.pack("<II", 0, 8)),
    vu("set_vring_addr", vring_addr),
    vu("set_vring_base", struct.pack("<II", 0, 0)),
    vu("set_vring_kick", struct.pack("<Q", 0), fds=1),
    vu("set_vring_call", struct.pack("<Q", 0), fds=1),
    vu("set_vring_enable", struct.pack("<II", 0, 1)),
    vu("get_vring_base", struct.pack("<II", 0, 0)),
]
write("vhost_user", "handshake", b"".join(handshake))
write("vhost_user", "no-fd-kick", b"".join(handshake[:11]) + vu("set_vring_kick", struct.pack("<Q", 0)))
write("vhost_user", "bad-version", vu("get_features", flags=2))
write("vhost_user", "mem-table-without-fd", vu("set_mem_table", memory_table))
write("vhost_user", "set-config", vu("set_config", struct.pack("<III", 0x20, 1, 0) + b"\1"))
write("vhost_user", "reset-owner", b"".join(handshake[:5]) + vu("reset_owner"))
