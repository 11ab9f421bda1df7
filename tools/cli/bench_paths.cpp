#include "tools/cli/bench_paths.hpp"

#include <algorithm>
#include <map>

#include "common/units.hpp"
#include "tools/toolstack/disk_spec.hpp"

namespace pvsim::tools::cli {
namespace {

// Every feature that changes the data path, off.
constexpr std::string_view kAllOff =
    "persistent=off,max-indirect-segments=0,ring-page-order=0,queues=1,grant-mode=map";

std::string with(std::string_view changed) {
    // A later key may not repeat an earlier one in a DISKSPEC: the base's
    // item for the changed key is dropped.
    const std::string key(changed.substr(0, changed.find('=')));
    std::string items;
    std::string_view rest = kAllOff;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (item.substr(0, item.find('=')) != key) {
            items += (items.empty() ? "" : ",") + std::string(item);
        }
    }
    return items + "," + std::string(changed);
}

const std::map<std::string, BenchPath, std::less<>>& named_paths() {
    static const std::map<std::string, BenchPath, std::less<>> paths = {
        {"local", {"local", true, ""}},
        {"xen", {"xen", false, std::string(kAllOff)}},
        {"xen-persistent", {"xen-persistent", false, with("persistent=on")}},
        {"xen-indirect", {"xen-indirect", false, with("max-indirect-segments=256")}},
        {"xen-multipage", {"xen-multipage", false, with("ring-page-order=4")}},
        {"xen-mq", {"xen-mq", false, with("queues=2")}},
        {"xen-copy", {"xen-copy", false, with("grant-mode=copy")}},
        {"xen-all", {"xen-all", false, ""}},
        {"virtio", {"virtio", false, "", VirtioDevice::pvsim}},
        {"virtio-qsd", {"virtio-qsd", false, "", VirtioDevice::qsd}},
    };
    return paths;
}

// Whether `item` continues a `xen:` path's DISKSPEC items.
bool is_feature_item(std::string_view item) {
    return item.find('=') != std::string_view::npos || item == "discard" || item == "no-discard";
}

}  // namespace

std::string bench_path_names() {
    std::string names;
    for (const auto& [name, path] : named_paths()) {
        names += name + ", ";
    }
    return names + "xen:ITEMS";
}

std::vector<BenchPath> parse_bench_paths(std::string_view list) {
    std::vector<BenchPath> paths;
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (item.starts_with("xen:")) {
            paths.push_back({std::string(item), false, std::string(item.substr(4))});
        } else if (is_feature_item(item) && !paths.empty() &&
                   paths.back().name.starts_with("xen:")) {
            paths.back().name += "," + std::string(item);
            paths.back().features += "," + std::string(item);
        } else if (const auto named = named_paths().find(item); named != named_paths().end()) {
            paths.push_back(named->second);
        } else {
            throw ParseError("bench: unknown path \"" + std::string(item) +
                             "\"; paths: " + bench_path_names());
        }
    }
    if (paths.empty()) {
        throw ParseError("bench: no path given; paths: " + bench_path_names());
    }
    // Each path gets a disk of its own, xvda to xvdz.
    if (paths.size() > 26) {
        throw ParseError("bench: at most 26 paths at once");
    }
    for (std::size_t i = 0; i < paths.size(); ++i) {
        const BenchPath& path = paths[i];
        if (std::any_of(paths.begin(), paths.begin() + static_cast<std::ptrdiff_t>(i),
                        [&](const BenchPath& earlier) { return earlier.name == path.name; })) {
            throw ParseError("bench: path \"" + path.name + "\" given twice");
        }
        if (path.local || path.virtio != VirtioDevice::none) {
            continue;
        }
        // The disk itself is the bench's: a path gives blkif feature items
        // (and pvsim's direct= and poll-us=, which shape the path too).
        std::string_view items = path.features;
        while (!items.empty()) {
            const std::size_t comma = items.find(',');
            const std::string_view item = items.substr(0, comma);
            items = comma == std::string_view::npos ? std::string_view{} : items.substr(comma + 1);
            const std::string_view key = item.substr(0, item.find('='));
            for (std::string_view disk_key : {"target", "vdev", "access", "format", "devtype",
                                              "backend", "specification", "cdrom"}) {
                if (key == disk_key || !is_feature_item(item)) {
                    throw ParseError("bench: path \"" + path.name + "\": \"" + std::string(item) +
                                     "\": only blkif feature items (persistent=, queues=, ...)");
                }
            }
        }
        (void)toolstack::parse_disk_spec(
            "target=/bench.img,vdev=xvda" +
            (path.features.empty() ? std::string() : "," + path.features));
    }
    return paths;
}

}  // namespace pvsim::tools::cli
