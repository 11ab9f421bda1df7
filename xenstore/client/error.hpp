// A failed xenstore call, as libxenstore reports one with errno: xenstored
// answers XS_ERROR with the errno's name from xs_wire.h's xsd_errors
// ("ENOENT"), which becomes the number here. Failures found on this side
// (a payload over XENSTORE_PAYLOAD_MAX, a lost connection, a reply that makes
// no sense) are reported the same way, with their own errno.
#pragma once

#include <string>
#include <string_view>

#include "common/errno_error.hpp"
#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::client {

class Error : public ErrnoError {
  public:
    // what() reads "xenstore READ /x/y: ENOENT", with " (detail)" after it
    // when there is one. `subject` is what the request was about (a path, a
    // domid, a transaction id), left out when empty.
    Error(xen::xs::MessageType request, std::string_view subject, int errnum,
          std::string error_name, std::string_view detail = {});

    // errnum(): ENOENT for "ENOENT"; EINVAL for a name xsd_errors does not
    // have, as libxenstore does.
    // The name as xenstored sent it ("ENOENT"), or the errno's symbolic name
    // for failures found on this side ("E2BIG", "ECONNRESET", "EPROTO").
    const std::string& error_name() const noexcept { return error_name_; }
    // The request that failed.
    xen::xs::MessageType request() const noexcept { return request_; }

  private:
    xen::xs::MessageType request_;
    std::string error_name_;
};

}  // namespace pvsim::xenstore::client
