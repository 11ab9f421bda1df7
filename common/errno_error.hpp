// The one errno-carrying error of pvsim: a std::system_error whose code()
// is the errno (std::generic_category), so that one handler catches a
// failed system call, a refused hypercall, a xenstore error and a bad node
// alike and finds the errno the same way. what() is exactly the message
// given: system_error's own would append strerror(), and pvsim's messages
// already name the error as Linux, Xen or xenstored report it (an error
// node reads "<errno> <message>", a xenstore error "...: ENOENT").
//
// The layers' own errors derive from it and add what they know:
// xenstore::client::Error (the request and xsd_errors name),
// xenstore::store::XsError, hypervisor::HypercallError, xen::NodeError.
#pragma once

#include <string>
#include <system_error>
#include <utility>

namespace pvsim {

class ErrnoError : public std::system_error {
  public:
    ErrnoError(int errnum, std::string message)
        : std::system_error(errnum, std::generic_category()), message_(std::move(message)) {}

    const char* what() const noexcept override { return message_.c_str(); }
    // The positive errno (code().value()).
    int errnum() const noexcept { return code().value(); }

  private:
    std::string message_;
};

}  // namespace pvsim
