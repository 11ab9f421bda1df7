// A request refused with an errno. C xenstored's request handlers return the
// errno, and process_message() answers it as XS_ERROR carrying the errno's
// name from xsd_errors (tools/xenstored/core.c: send_error); here handlers
// throw XsError and Xenstore::handle() turns it into that reply.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "common/errno_error.hpp"
#include "common/xen/grant_table.hpp"
#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::store {

// what() is the errno's xsd_errors name ("ENOENT"), as XS_ERROR carries it.
class XsError : public ErrnoError {
  public:
    explicit XsError(int errnum) : ErrnoError(errnum, std::string(xen::xs::error_name(errnum))) {}
};

// A request refused because a domain is at one of its quotas (Quotas):
// answered as any XsError, and logged naming the caller, the quota (by its
// -Q name) and its limit. `charged`: the domain at the quota when it is not
// the caller's (the memory quota charges a node's owner, whoever writes).
class QuotaError : public XsError {
  public:
    QuotaError(int errnum, std::string quota, std::size_t limit,
               std::optional<xen::DomId> charged = std::nullopt)
        : XsError(errnum), quota_(std::move(quota)), limit_(limit), charged_(charged) {}
    const std::string& quota() const noexcept { return quota_; }
    std::size_t limit() const noexcept { return limit_; }
    std::optional<xen::DomId> charged() const noexcept { return charged_; }

  private:
    std::string quota_;
    std::size_t limit_;
    std::optional<xen::DomId> charged_;
};

}  // namespace pvsim::xenstore::store
