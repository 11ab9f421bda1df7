#include "tools/toolstack/disk_spec.hpp"

#include <charconv>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "common/units.hpp"

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
    bad_value(key, value, "0 or 1");
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
             const std::string access = one_of(k, v, {"rw", "w", "ro", "r"});
             d.readonly = access == "ro" || access == "r";
         }},
        {"devtype",
         [](DiskSpec& d, auto k, auto v) {
             d.cdrom = one_of(k, v, {"disk", "cdrom"}) == "cdrom";
         }},
        {"backend", [](DiskSpec& d, auto, auto v) { d.backend = std::string(v); }},
        {"specification",
         [](DiskSpec& d, auto k, auto v) {
             d.specification = one_of(k, v, {"xen", "virtio"});
         }},
        {"direct", [](DiskSpec& d, auto k, auto v) { d.direct = flag(k, v); }},
        {"poll-us", [](DiskSpec& d, auto k, auto v) { d.poll_us = number(k, v, 0, 1000000); }},
        {"persistent", [](DiskSpec& d, auto k, auto v) { d.persistent = flag(k, v); }},
        {"queues", [](DiskSpec& d, auto k, auto v) { d.queues = number(k, v, 1, 16); }},
        {"ring-page-order",
         [](DiskSpec& d, auto k, auto v) { d.ring_page_order = number(k, v, 0, 4); }},
        {"max-indirect-segments",
         [](DiskSpec& d, auto k, auto v) { d.max_indirect_segments = number(k, v, 0, 256); }},
        {"grant-mode",
         [](DiskSpec& d, auto k, auto v) {
             d.grant_mode = one_of(k, v, {"map", "copy"});
         }},
        {"discard", [](DiskSpec& d, auto k, auto v) { d.discard = flag(k, v); }},
    };
    return table;
}

std::string accepted_keys() {
    std::string keys;
    for (const auto& [key, setter] : setters()) {
        keys += (keys.empty() ? "" : ", ") + key;
    }
    return keys;
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
        if (item == "discard" || item == "no-discard" || item == "cdrom" ||
            (equals != std::string_view::npos && setters().contains(item.substr(0, equals)))) {
            return comma;
        }
    }
    return text.size();
}

}  // namespace

std::string DiskSpec::feature_keys() const {
    std::vector<std::string> items;
    if (persistent)
        items.push_back("persistent=" + std::to_string(*persistent));
    if (queues)
        items.push_back("queues=" + std::to_string(*queues));
    if (ring_page_order)
        items.push_back("ring-page-order=" + std::to_string(*ring_page_order));
    if (max_indirect_segments) {
        items.push_back("max-indirect-segments=" + std::to_string(*max_indirect_segments));
    }
    if (grant_mode)
        items.push_back("grant-mode=" + *grant_mode);
    if (discard)
        items.push_back("discard=" + std::to_string(*discard));
    std::string joined;
    for (const auto& item : items) {
        joined += (joined.empty() ? "" : ",") + item;
    }
    return joined;
}

DiskSpec parse_disk_spec(std::string_view text) {
    DiskSpec spec;
    std::set<std::string, std::less<>> seen;
    static constexpr std::string_view kPositional[] = {"target", "format", "vdev", "access"};
    std::size_t positional = 0;
    auto apply = [&](std::string_view key, std::string_view value) {
        const auto setter = setters().find(key);
        if (setter == setters().end()) {
            throw ParseError("DISKSPEC: unknown key " + quoted(key) +
                             "; accepted: " + accepted_keys());
        }
        // xl: "Default values apply if the parameter is not specified, or if
        // it is specified with an empty value (whether positionally or
        // explicitly)", so an empty value may be given again.
        if (value.empty()) {
            return;
        }
        if (!seen.insert(std::string(key)).second) {
            throw ParseError("DISKSPEC: " + quoted(key) + " given twice");
        }
        setter->second(spec, key, value);
    };
    for (text = without_leading_space(text); !text.empty(); text = without_leading_space(text)) {
        if (text.starts_with("target=")) {
            const std::size_t end = target_end(text);
            apply("target", text.substr(7, end - 7));
            text = end == text.size() ? std::string_view{} : text.substr(end + 1);
            continue;
        }
        const std::size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const std::size_t equals = item.find('=');
        if (equals != std::string_view::npos) {
            apply(item.substr(0, equals), item.substr(equals + 1));
        } else if (item == "discard" || item == "no-discard") {
            apply("discard", item == "discard" ? "1" : "0");
        } else if (item == "cdrom") {
            apply("devtype", "cdrom");
        } else {
            // xl: a positional item goes to the first positional parameter
            // not yet given (by name or position); an empty one leaves that
            // parameter at its default ("/dev/vg/guest-volume,,hda").
            while (positional < std::size(kPositional) && seen.contains(kPositional[positional])) {
                ++positional;
            }
            if (positional == std::size(kPositional)) {
                throw ParseError(
                    "DISKSPEC: " + (item.empty() ? std::string("empty item") : quoted(item)) +
                    ": too many positional items (target, format, vdev, access); "
                    "use KEY=VALUE");
            }
            apply(kPositional[positional++], item);
        }
    }
    if (spec.target.empty()) {
        throw ParseError("DISKSPEC: no target (target=PATH)");
    }
    if (spec.vdev.empty()) {
        throw ParseError("DISKSPEC: no vdev (vdev=xvda)");
    }
    if (spec.cdrom) {
        spec.readonly = true;
    }
    return spec;
}

}  // namespace pvsim::tools::toolstack
