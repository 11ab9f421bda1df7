#include "tools/toolstack/disk_sharing.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "xenstore/client/error.hpp"

namespace pvsim::tools::toolstack {
namespace disk_sharing {

// What a path names, for "the same target".
struct Identity {
    bool block = false;
    dev_t dev = 0;  // a block device's st_rdev; a file's st_dev
    ino_t ino = 0;  // a file's inode

    bool operator==(const Identity&) const = default;
};

std::optional<Identity> identity_of(const std::string& path) {
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    if (S_ISBLK(st.st_mode)) {
        return Identity{true, st.st_rdev, 0};
    }
    return Identity{false, st.st_dev, st.st_ino};
}

// The children of `path`; none when it does not exist.
std::vector<std::string> children(xenstore::client::NodeOperations& t, const std::string& path) {
    try {
        return t.directory(path);
    } catch (const xenstore::client::Error& e) {
        if (e.errnum() == ENOENT) {
            return {};
        }
        throw;
    }
}

// The backend directory types whose `params` name a target, with whether
// params carries QEMU's "<format>:" in front (qdisk, libxl's
// device_disk_add).
struct BackendType {
    const char* name;
    bool format_prefix;
};
constexpr BackendType kBackendTypes[] = {
    {"vbd", false}, {"qdisk", true}, {"vhost-user-blk", false}};

std::string access_text(DiskAccess access) {
    switch (access) {
        case DiskAccess::read_only:
            return "read-only";
        case DiskAccess::shared_write:
            return "read-write, shared";
        case DiskAccess::read_write:
            break;
    }
    return "read-write";
}

// check_sharing's rule for one holder.
bool conflicts(DiskAccess asked, DiskAccess held) {
    return asked == DiskAccess::read_write ||
           (asked == DiskAccess::read_only && held == DiskAccess::read_write);
}

// check_sharing's /proc/mounts pass: a block device mounted in dom0, for w
// at all, for r read-write. Returns the mount point.
std::optional<std::string> mounted_in_dom0(const Identity& target, DiskAccess asked) {
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string source, where, type, options;
        fields >> source >> where >> type >> options;
        const bool read_only = options == "ro" || options.starts_with("ro,");
        if (asked == DiskAccess::read_only && read_only) {
            continue;
        }
        if (!source.starts_with('/')) {
            continue;
        }
        if (const auto mounted = identity_of(source); mounted && *mounted == target) {
            return where;
        }
    }
    return std::nullopt;
}

}  // namespace disk_sharing

std::string_view mode_node(DiskAccess access) noexcept {
    switch (access) {
        case DiskAccess::read_only:
            return "r";
        case DiskAccess::shared_write:
            return "w!";
        case DiskAccess::read_write:
            break;
    }
    return "w";
}

DiskAccess canonical_access(std::string_view mode) noexcept {
    if (mode.find('w') == std::string_view::npos) {
        return DiskAccess::read_only;
    }
    return mode.find('!') == std::string_view::npos ? DiskAccess::read_write
                                                    : DiskAccess::shared_write;
}

void check_disk_sharing(xenstore::client::NodeOperations& t, const std::string& target,
                        DiskAccess access) {
    using namespace disk_sharing;
    if (access == DiskAccess::shared_write) {
        return;  // check_device_sharing: `if [ "x$mode" = 'x!' ]; then return 0`
    }
    const std::optional<Identity> wanted = identity_of(target);
    if (!wanted) {
        return;
    }
    const std::string verb = access == DiskAccess::read_only ? "read-only" : "read-write";
    if (wanted->block) {
        if (const auto where = mounted_in_dom0(*wanted, access)) {
            throw DiskInUse(
                target + " is mounted " + (access == DiskAccess::read_only ? "read-write " : "") +
                "in dom0 (on " + *where + "), and so cannot be attached " + verb + " by a guest");
        }
    }
    for (const std::string& backend_domain : children(t, "/local/domain")) {
        for (const BackendType& type : kBackendTypes) {
            const std::string base = "/local/domain/" + backend_domain + "/backend/" + type.name;
            for (const std::string& domid : children(t, base)) {
                for (const std::string& devid : children(t, base + "/" + domid)) {
                    const std::string dir = base + "/" + domid + "/" + devid;
                    std::string params = t.try_read(dir + "/params").value_or("");
                    if (type.format_prefix && params.find(':') != std::string::npos) {
                        params = params.substr(params.find(':') + 1);
                    }
                    const DiskAccess held =
                        canonical_access(t.try_read(dir + "/mode").value_or("r"));
                    if (!conflicts(access, held) || identity_of(params) != wanted) {
                        continue;
                    }
                    const std::string vdev = t.try_read(dir + "/dev").value_or(devid);
                    throw DiskInUse(target + " is attached " + access_text(held) + " as dom" +
                                    domid + "'s " + vdev + " (" + dir +
                                    "), and so cannot be attached " + verb + " now" +
                                    (access == DiskAccess::read_write
                                         ? " (access=w! on both shares it writable on purpose)"
                                         : ""));
                }
            }
        }
    }
}

}  // namespace pvsim::tools::toolstack
