// A request refused with an errno. C xenstored's request handlers return the
// errno, and process_message() answers it as XS_ERROR carrying the errno's
// name from xsd_errors (tools/xenstored/core.c: send_error); here handlers
// throw XsError and Xenstore::handle() turns it into that reply.
#pragma once

#include <stdexcept>
#include <string>

#include "common/xen/xs_wire.hpp"

namespace pvsim::xenstore::store {

class XsError : public std::runtime_error {
  public:
    explicit XsError(int errnum)
        : std::runtime_error(std::string(xen::xs::error_name(errnum))), errnum_(errnum) {}
    int errnum() const noexcept { return errnum_; }

  private:
    int errnum_;
};

}  // namespace pvsim::xenstore::store
