// The paths `pvsim bench` compares (DESIGN.md §10): named I/O paths from a
// guest's block API to the storage, each transport adding names here rather
// than options.
//   local           the same job on the storage's io_uring engine in one
//                   process, no hypervisor: what the storage can do
//   xen             a Xen vbd with every blkif feature off: grants mapped
//                   per request, a one-page ring, one queue, no indirect
//   xen-persistent  xen with persistent grants
//   xen-indirect    xen with indirect descriptors (256 segments: 1 MiB in
//                   one request)
//   xen-multipage   xen with a 16-page ring (order 4)
//   xen-mq          xen with 2 queues
//   xen-copy        xen with the backend in grant-copy mode
//   xen-all         a Xen vbd with Linux's defaults at both ends
//   xen:ITEMS       a Xen vbd with these DISKSPEC feature items
//   virtio          a virtio-blk disk served by pvsim's vhost-user-blk
//                   device (pvsim-backend) on the same image: no grants,
//                   the guest's memory shared by fd (DESIGN.md §6)
//   virtio-qsd      the same driver against qemu-storage-daemon's
//                   vhost-user-blk export of the same image, started by the
//                   bench and stopped after the path
// A list is comma-separated; the items of a `xen:` path run on to the next
// name, so `xen:persistent=on,queues=2,local` is two paths.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pvsim::tools::cli {

// Which vhost-user-blk device serves a virtio path.
enum class VirtioDevice { none, pvsim, qsd };

struct BenchPath {
    std::string name;      // as given ("xen-mq", "xen:queues=2")
    bool local = false;    // no Xen: the storage in-process
    std::string features;  // DISKSPEC feature items for a xen path ("" for Linux's defaults)
    VirtioDevice virtio = VirtioDevice::none;  // a virtio-blk disk instead of a vbd
    bool fio = false;  // fio itself on the image (fio_baseline.hpp; the bench adds it)

    // Whether the path goes through a transport whose requests are counted.
    bool has_requests() const noexcept { return !local && !fio; }
};

// Throws ParseError naming an unknown path (and listing the known ones), an
// empty list, a path given twice, or a `xen:` path whose items are not
// DISKSPEC feature keys (checked as block-attach checks them).
std::vector<BenchPath> parse_bench_paths(std::string_view list);

// The named paths, for help and messages.
std::string bench_path_names();

}  // namespace pvsim::tools::cli
