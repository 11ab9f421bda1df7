// Xenstore node names (docs/misc/xenstore.txt, "Paths"; C xenstored's
// canonicalize() and is_valid_nodename() in tools/xenstored/core.c): which
// names are valid, how a relative name resolves under the caller's
// /local/domain/<domid>, and the family relations between names that
// watches and removal rely on.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/xen/grant_table.hpp"

namespace pvsim::xenstore::store {

// The special watch paths (xenstore.txt, "WATCH"): fired when a domain is
// introduced and when one is released or dies. They are nodes of their own,
// outside the "/" tree, so that their permissions decide who hears of them.
inline constexpr std::string_view kIntroduceDomain = "@introduceDomain";
inline constexpr std::string_view kReleaseDomain = "@releaseDomain";

// "/local/domain/<domid>": a domain's home, where its relative paths point
// (XS_GET_DOMAIN_PATH answers it).
std::string domain_path(xen::DomId domid);

// The absolute name `raw` stands for when `domid` sends it, or nullopt where
// C xenstored answers EINVAL: characters other than alphanumerics and
// "-/_@", a name starting with '@' where no special path is allowed, a
// trailing '/' other than the root, "//", more than kAbsPathMax characters,
// or more than kRelPathMax not counting a leading "/local/domain/<domid>/"
// (so kRelPathMax is the limit outside /local/domain too).
std::optional<std::string> canonicalize(std::string_view raw, xen::DomId domid, bool allow_special);

// Whether `raw` is relative: neither "/..." nor "@...". A watch set on a
// relative path reports relative paths.
bool is_relative(std::string_view raw);

// C xenstored's get_parent(): everything before the last '/', "/" for a
// top-level node, for "/" itself and for special paths.
std::string parent_of(std::string_view path);

// The last component of a path other than "/".
std::string_view basename(std::string_view path);

// `parent` + "/" + `name`, without doubling the root's slash.
std::string child_path(std::string_view parent, std::string_view name);

// C xenstored's is_child() (watch.c): `child` is `parent` or below it. Every
// name counts as below "/", special paths included.
bool is_child(std::string_view child, std::string_view parent);

}  // namespace pvsim::xenstore::store
