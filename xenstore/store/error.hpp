// A request refused with an errno. C xenstored's request handlers return the
// errno, and process_message() answers it as XS_ERROR carrying the errno's
// name from xsd_errors (tools/xenstored/core.c: send_error); here handlers
// throw XsError and Xenstore::handle() turns it into that reply.
#pragma once

#include <string>

#include "common/errno_error.hpp"
#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::store {

// what() is the errno's xsd_errors name ("ENOENT"), as XS_ERROR carries it.
class XsError : public ErrnoError {
  public:
    explicit XsError(int errnum) : ErrnoError(errnum, std::string(xen::xs::error_name(errnum))) {}
};

}  // namespace pvsim::xenstore::store
