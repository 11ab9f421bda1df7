#include "tools/toolstack/disk_spec.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "common/spelling.hpp"
#include "common/units.hpp"
#include "common/xen/blkif.hpp"
#include "common/xen/blkif_x86_32.hpp"
#include "tools/toolstack/virtio_disk.hpp"

namespace pvsim::tools::toolstack {
namespace {

std::string quoted(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

// xl-disk-configuration: "Whitespace may appear before each parameter and
// will be ignored."
std::string_view without_leading_space(std::string_view item) {
    const std::size_t first = item.find_first_not_of(" \t");
    return first == std::string_view::npos ? std::string_view{} : item.substr(first);
}

[[noreturn]] void bad_value(std::string_view key, std::string_view value,
                            std::string_view expected) {
    throw ParseError("DISKSPEC: " + std::string(key) + "=" + std::string(value) + ": expected " +
                     std::string(expected));
}

bool flag(std::string_view key, std::string_view value) {
    if (value == "1" || value == "yes" || value == "on") {
        return true;
    }
    if (value == "0" || value == "no" || value == "off") {
        return false;
    }
    bad_value(key, value, "on, off, 1 or 0");
}

std::uint32_t number(std::string_view key, std::string_view value, std::uint32_t min,
                     std::uint32_t max) {
    std::uint32_t parsed = 0;
    const char* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
    if (value.empty() || ec != std::errc{} || ptr != end || parsed < min || parsed > max) {
        bad_value(key, value,
                  "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    }
    return parsed;
}

std::string one_of(std::string_view key, std::string_view value,
                   std::initializer_list<std::string_view> accepted) {
    std::string list;
    for (std::string_view option : accepted) {
        if (value == option) {
            return std::string(value);
        }
        list += (list.empty() ? "" : ", ") + std::string(option);
    }
    bad_value(key, value, "one of " + list);
}

using Setter = std::function<void(DiskSpec&, std::string_view key, std::string_view value)>;

const std::map<std::string, Setter, std::less<>>& setters() {
    static const std::map<std::string, Setter, std::less<>> table = {
        {"target", [](DiskSpec& d, auto, auto v) { d.target = std::string(v); }},
        {"vdev", [](DiskSpec& d, auto, auto v) { d.vdev = std::string(v); }},
        {"format",
         [](DiskSpec& d, auto k, auto v) {
             if (v != "raw") {
                 bad_value(k, v, "raw (pvsim's backend serves raw images and devices only)");
             }
             d.format = std::string(v);
         }},
        {"access",
         [](DiskSpec& d, auto k, auto v) {
             const std::string access = one_of(k, v, {"rw", "w", "ro", "r", "w!"});
             d.readonly = access == "ro" || access == "r";
             d.shared = access == "w!";
         }},
        {"devtype",
         [](DiskSpec& d, auto k, auto v) {
             d.cdrom = one_of(k, v, {"disk", "cdrom"}) == "cdrom";
         }},
        {"backend", [](DiskSpec& d, auto, auto v) { d.backend = std::string(v); }},
        {"backendtype",
         [](DiskSpec& d, auto k, auto v) {
             d.backendtype = parse_disk_backend(v);
             if (!d.backendtype) {
                 bad_value(k, v,
                           "phy or qdisk (tap, blktap, has no backend in pvsim; phy is "
                           "Linux's blkback, qdisk QEMU's xen-block)");
             }
         }},
        {"direct-io-safe", [](DiskSpec& d, auto k, auto v) { d.direct_io_safe = flag(k, v); }},
        {"specification",
         [](DiskSpec& d, auto k, auto v) {
             d.specification = one_of(k, v, {"xen", "virtio"});
         }},
        {"direct", [](DiskSpec& d, auto k, auto v) { d.direct = flag(k, v); }},
        {"poll-us", [](DiskSpec& d, auto k, auto v) { d.poll_us = number(k, v, 0, 1000000); }},
        {"vhost-user", [](DiskSpec& d, auto, auto v) { d.vhost_user = std::string(v); }},
        {"reconnect",
         [](DiskSpec& d, auto k, auto v) { d.reconnect = number(k, v, 0, kMaxReconnectSeconds); }},
        {"trusted", [](DiskSpec& d, auto k, auto v) { d.trusted = flag(k, v); }},
        {"protocol",
         [](DiskSpec& d, auto k, auto v) {
             d.protocol = xen::parse_blkif_protocol(
                 one_of(k, v, {xen::kXenIoProtoAbiNative, xen::kXenIoProtoAbiX86_32}));
         }},
    };
    return table;
}

// A blkif feature key sets one end's settings; `end` is the prefix's end,
// nullopt for an unprefixed key (both ends).
using FeatureSetter = std::function<void(BlkifFeatureSettings&, std::string_view key,
                                         std::string_view value, std::optional<xen::BlkifEnd>)>;

// The most segments an end takes: the backend offers up to xen-blkback's
// MAX_INDIRECT_SEGMENTS, the frontend uses up to what one indirect request
// can carry; an unprefixed key must suit both.
std::uint32_t max_segments(std::optional<xen::BlkifEnd> end) {
    return end == xen::BlkifEnd::frontend ? xen::kBlkifMaxIndirectSegments
                                          : xen::kBlkifBackendMaxIndirectSegments;
}

const std::map<std::string, FeatureSetter, std::less<>>& feature_setters() {
    using S = BlkifFeatureSettings;
    static const std::map<std::string, FeatureSetter, std::less<>> table = {
        {"persistent", [](S& f, auto k, auto v, auto) { f.persistent = flag(k, v); }},
        {"max-indirect-segments",
         [](S& f, auto k, auto v, auto end) {
             f.max_indirect_segments = number(k, v, 0, max_segments(end));
         }},
        {"ring-page-order",
         [](S& f, auto k, auto v, auto) {
             f.max_ring_page_order = number(k, v, 0, xen::kBlkifMaxRingPageOrder);
         }},
        {"queues",
         [](S& f, auto k, auto v, auto) { f.max_queues = number(k, v, 1, xen::kBlkifMaxQueues); }},
        {"discard", [](S& f, auto k, auto v, auto) { f.discard = flag(k, v); }},
        {"flush", [](S& f, auto k, auto v, auto) { f.flush_cache = flag(k, v); }},
        {"barrier", [](S& f, auto k, auto v, auto) { f.barrier = flag(k, v); }},
        {"grant-mode",
         [](S& f, auto k, auto v, auto end) {
             if (end == xen::BlkifEnd::frontend) {
                 bad_value(k, v, "no frontend- prefix (grant-mode is the backend's choice)");
             }
             f.grant_mode = xen::parse_grant_mode(one_of(k, v, {"map", "copy"}));
         }},
    };
    return table;
}

// A feature key: its setter and the end its prefix names.
struct FeatureKey {
    const FeatureSetter* setter = nullptr;
    std::optional<xen::BlkifEnd> end;
};

std::optional<FeatureKey> feature_key(std::string_view key) {
    std::optional<xen::BlkifEnd> end;
    if (key.starts_with("frontend-")) {
        end = xen::BlkifEnd::frontend;
        key.remove_prefix(9);
    } else if (key.starts_with("backend-")) {
        end = xen::BlkifEnd::backend;
        key.remove_prefix(8);
    }
    const auto found = feature_setters().find(key);
    if (found == feature_setters().end()) {
        return std::nullopt;
    }
    return FeatureKey{&found->second, end};
}

bool known_key(std::string_view key) {
    return setters().contains(key) || feature_key(key).has_value();
}

std::vector<std::string> known_keys() {
    std::set<std::string> sorted;
    for (const auto& [key, setter] : setters()) {
        sorted.insert(key);
    }
    for (const auto& [key, setter] : feature_setters()) {
        sorted.insert(key);
    }
    return {sorted.begin(), sorted.end()};
}

std::string accepted_keys() {
    std::string keys;
    for (const auto& key : known_keys()) {
        keys += (keys.empty() ? "" : ", ") + key;
    }
    return keys + " (the blkif feature keys also with a frontend- or backend- prefix)";
}

// xl's deprecated prefixes before a positional target
// (xl-disk-configuration.5 "Deprecated parameters, prefixes and syntaxes",
// libxlu_disk_l.l): raw:, qcow2:, vhd: give the format; iscsi:, nbd:,
// enbd:, drbd: name a block-<script>, which pvsim does not run (refused);
// tapdisk:, tap:, tap2:, aio:, ioemu:, file:, phy: are stripped and ignored.
// `apply(key, value)` records the format. Returns the target after them;
// `had_prefix` says whether there was one, after which the positional
// format is skipped (libxlu_disk_l.l's had_depr_prefix: "raw:/p,hda,w" and
// "phy:/p,hda,w" are <target>,<vdev>,<access>).
template <typename Apply>
std::string_view strip_deprecated_prefixes(std::string_view item, Apply&& apply, bool& had_prefix) {
    static constexpr std::string_view kIgnored[] = {"tapdisk", "tap",  "tap2", "aio",
                                                    "ioemu",   "file", "phy"};
    static constexpr std::string_view kFormats[] = {"raw", "qcow2", "vhd"};
    static constexpr std::string_view kScripts[] = {"iscsi", "nbd", "enbd", "drbd"};
    const auto among = [](std::string_view word, const auto& list) {
        return std::find(std::begin(list), std::end(list), word) != std::end(list);
    };
    for (;;) {
        const std::size_t colon = item.find(':');
        if (colon == std::string_view::npos) {
            return item;
        }
        const std::string_view prefix = item.substr(0, colon);
        if (among(prefix, kFormats) || among(prefix, kIgnored)) {
            had_prefix = true;
        }
        if (among(prefix, kFormats)) {
            apply("format", prefix);
        } else if (among(prefix, kScripts)) {
            throw ParseError("DISKSPEC: " + std::string(prefix) +
                             ": names the hotplug script block-" + std::string(prefix) +
                             ", which pvsim does not run");
        } else if (!among(prefix, kIgnored)) {
            return item;
        }
        item = item.substr(colon + 1);
    }
}

// xl's items without a value (xl-disk-configuration: `discard` /
// `no-discard`, `cdrom`; Xen 4.17's `trusted` / `untrusted`) as the KEY=VALUE
// they stand for.
struct BareFlag {
    std::string_view key;
    std::string_view value;
};

std::optional<BareFlag> bare_flag(std::string_view item) {
    static constexpr std::pair<std::string_view, BareFlag> kFlags[] = {
        {"discard", {"discard", "1"}},   {"no-discard", {"discard", "0"}},
        {"cdrom", {"devtype", "cdrom"}}, {"trusted", {"trusted", "1"}},
        {"untrusted", {"trusted", "0"}}, {"direct-io-safe", {"direct-io-safe", "1"}},
    };
    for (const auto& [name, flag] : kFlags) {
        if (item == name) {
            return flag;
        }
    }
    return std::nullopt;
}

// xl takes everything after "target=" as the path, so that a path may hold
// commas. pvsim also accepts target= first (as `target=IMG,vdev=xvda`): the
// path ends at the first comma that starts another known item.
std::size_t target_end(std::string_view text) {
    for (std::size_t comma = text.find(','); comma != std::string_view::npos;
         comma = text.find(',', comma + 1)) {
        const std::string_view next = text.substr(comma + 1);
        const std::string_view item = without_leading_space(next.substr(0, next.find(',')));
        const std::size_t equals = item.find('=');
        if (bare_flag(item) ||
            (equals != std::string_view::npos && known_key(item.substr(0, equals)))) {
            return comma;
        }
    }
    return text.size();
}

// specification=virtio: what a virtio disk can be given (disk_spec.hpp).
void check_virtio(const DiskSpec& spec, const std::vector<std::string>& feature_keys) {
    for (const std::string& key : feature_keys) {
        if (key != "queues") {
            throw ParseError("DISKSPEC: " + key +
                             "= is a Xen blkif feature; specification=virtio takes queues=, "
                             "poll-us=, direct=, access=, vhost-user= and reconnect=");
        }
    }
    if (spec.cdrom) {
        throw ParseError("DISKSPEC: devtype=cdrom: not with specification=virtio");
    }
    if (spec.protocol) {
        throw ParseError(
            "DISKSPEC: protocol= is the layout of a Xen block ring; not with "
            "specification=virtio");
    }
    if (spec.trusted) {
        throw ParseError(
            "DISKSPEC: trusted/untrusted tells Xen's blkfront whether to bounce its data "
            "(XSA-403); not with specification=virtio");
    }
    if (spec.backendtype || spec.direct_io_safe) {
        throw ParseError(
            "DISKSPEC: backendtype= and direct-io-safe choose and tune a Xen disk backend; "
            "not with specification=virtio");
    }
    if (spec.vhost_user && !spec.target.empty()) {
        throw ParseError("DISKSPEC: target= and vhost-user= together: the device at " +
                         *spec.vhost_user + " serves its own image; give one of them");
    }
    if (spec.vhost_user && spec.direct) {
        throw ParseError("DISKSPEC: direct= applies to pvsim's device, not to vhost-user=" +
                         *spec.vhost_user);
    }
    if (!spec.vhost_user && spec.target.empty()) {
        throw ParseError(
            "DISKSPEC: no target (target=PATH, or vhost-user=SOCK for a running "
            "vhost-user-blk device)");
    }
    if (!spec.vdev.empty() && !is_virtio_vdev(spec.vdev)) {
        throw ParseError("DISKSPEC: vdev=" + spec.vdev +
                         ": a virtio disk is named vd and letters (vda, vdb, ...)");
    }
}

}  // namespace

DiskSpec parse_disk_spec(std::string_view text) {
    DiskSpec spec;
    std::set<std::string, std::less<>> seen;
    bool had_prefix = false;  // a deprecated prefix before the positional target
    static constexpr std::string_view kPositional[] = {"target", "format", "vdev", "access"};
    std::size_t positional = 0;
    // Unprefixed feature keys, which a prefixed one overrides for its end.
    BlkifFeatureSettings both_ends;
    // The feature keys given, as written (specification=virtio takes few).
    std::vector<std::string> feature_keys;
    // xl: "Default values apply if the parameter is not specified, or if it
    // is specified with an empty value (whether positionally or
    // explicitly)", so an empty value may be given again.
    auto given = [&](std::string_view key, std::string_view value) {
        if (value.empty()) {
            return false;
        }
        if (!seen.insert(std::string(key)).second) {
            throw ParseError("DISKSPEC: " + quoted(key) + " given twice");
        }
        return true;
    };
    auto apply = [&](std::string_view key, std::string_view value) {
        if (const auto setter = setters().find(key); setter != setters().end()) {
            if (given(key, value)) {
                setter->second(spec, key, value);
            }
            return;
        }
        const std::optional<FeatureKey> feature = feature_key(key);
        if (!feature) {
            std::vector<std::string> known = known_keys();
            for (const char* prefix : {"frontend-", "backend-"}) {
                for (const auto& [feature_name, setter] : feature_setters()) {
                    known.push_back(prefix + std::string(feature_name));
                }
            }
            throw ParseError("DISKSPEC: unknown key " + quoted(key) + did_you_mean(key, known) +
                             "; accepted: " + accepted_keys());
        }
        if (!given(key, value)) {
            return;
        }
        feature_keys.emplace_back(key);
        BlkifFeatureSettings& settings = !feature->end ? both_ends
                                         : *feature->end == xen::BlkifEnd::frontend
                                             ? spec.frontend_features
                                             : spec.backend_features;
        (*feature->setter)(settings, key, value, feature->end);
    };
    for (text = without_leading_space(text); !text.empty(); text = without_leading_space(text)) {
        if (text.starts_with("target=")) {
            const std::size_t end = target_end(text);
            apply("target", text.substr(7, end - 7));
            text = end == text.size() ? std::string_view{} : text.substr(end + 1);
            continue;
        }
        const std::size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const std::size_t equals = item.find('=');
        if (equals != std::string_view::npos) {
            apply(item.substr(0, equals), item.substr(equals + 1));
        } else if (const auto flag_item = bare_flag(item)) {
            apply(flag_item->key, flag_item->value);
        } else {
            // xl: a positional item goes to the first positional parameter
            // not yet given (by name or position); an empty one leaves that
            // parameter at its default ("/dev/vg/guest-volume,,hda").
            while (positional < std::size(kPositional) &&
                   (seen.contains(kPositional[positional]) ||
                    (had_prefix && kPositional[positional] == "format"))) {
                ++positional;
            }
            if (positional == std::size(kPositional)) {
                throw ParseError(
                    "DISKSPEC: " + (item.empty() ? std::string("empty item") : quoted(item)) +
                    ": too many positional items (target, format, vdev, access); "
                    "use KEY=VALUE");
            }
            const std::string_view slot = kPositional[positional++];
            if (slot == "target") {
                item = strip_deprecated_prefixes(item, apply, had_prefix);
            } else if (const std::size_t colon = item.find(':');
                       slot == "vdev" && colon != std::string_view::npos) {
                // The deprecated <vdev>:<devtype> ("hdc:cdrom").
                apply("devtype", item.substr(colon + 1));
                item = item.substr(0, colon);
            }
            apply(slot, item);
        }
    }
    if (spec.specification == "virtio") {
        check_virtio(spec, feature_keys);
    } else if (spec.vhost_user) {
        throw ParseError("DISKSPEC: vhost-user=" + *spec.vhost_user +
                         ": only with specification=virtio");
    } else if (spec.reconnect) {
        throw ParseError(
            "DISKSPEC: reconnect= is how often a virtio disk's driver connects again to its "
            "vhost-user device; only with specification=virtio");
    } else if (spec.target.empty()) {
        throw ParseError("DISKSPEC: no target (target=PATH)");
    } else if (is_virtio_vdev(spec.vdev)) {
        throw ParseError("DISKSPEC: vdev=" + spec.vdev +
                         " names a virtio disk: add specification=virtio, or name a vbd (xvda)");
    }
    if (spec.vdev.empty()) {
        throw ParseError(spec.specification == "virtio" ? "DISKSPEC: no vdev (vdev=vda)"
                                                        : "DISKSPEC: no vdev (vdev=xvda)");
    }
    if (spec.cdrom) {
        spec.readonly = true;
    }
    spec.backend_features = spec.backend_features.or_else(both_ends);
    // The grant mode is the backend's alone.
    both_ends.grant_mode.reset();
    spec.frontend_features = spec.frontend_features.or_else(both_ends);
    return spec;
}

std::string_view disk_spec_help() noexcept {
    return R"(DISKSPEC keys (xl's docs/misc/xl-disk-configuration.txt, and pvsim's own):
  target=PATH                 image file or block device (required, or vhost-user=)
  vdev=NAME                   xvda, hda, sda, d0p1, a number; vda for virtio (required)
  access=rw|w|ro|r|w!         default rw; w! shares a writable image on purpose
  format=raw                  default raw (the only one served)
  devtype=disk|cdrom          default disk
  backend=DOMAIN              default 0 (dom0)
  backendtype=phy|qdisk       default phy for a block device, qdisk for a file
  direct-io-safe[=on|off]     default off (qdisk then opens O_DIRECT)
  specification=xen|virtio    default xen
  vhost-user=SOCK             virtio: an existing vhost-user-blk device's socket
  reconnect=SECONDS           virtio: connect again this often to a device that
                              hung up (QEMU's chardev reconnect=), 0..3600;
                              default 1 with vhost-user=, else 0 (off)
  direct=0|1                  O_DIRECT on the backing store, default 0
  poll-us=N                   both ends' polling window in us, default 50 (0: off)
  protocol=x86_64-abi|x86_32-abi   the guest's ring layout, default x86_64-abi
  trusted | untrusted         default trusted (untrusted: blkfront bounces data)
  persistent=on|off           feature-persistent, default on
  max-indirect-segments=N     the backend's offer 0..256 (default 256), the
                              frontend's ceiling (default 32; 0: never indirect)
  ring-page-order=N           0..4: the backend's offer (default 4), the
                              frontend's ceiling (default 0)
  queues=N                    1..16: the backend's offer (default one per
                              CPU), the frontend's ceiling (min(4, CPUs))
  discard=on|off              default on (also bare discard / no-discard)
  flush=on|off                default on
  barrier=on|off              default on
  grant-mode=map|copy         the backend's, default map
Feature keys take a frontend- or backend- prefix to set one end only.
Positional items fill target, format, vdev, access in that order.)";
}

}  // namespace pvsim::tools::toolstack
