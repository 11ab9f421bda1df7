// Read access to environment variables, passed as a value so that code which
// depends on the environment (run-directory resolution, log level) can be
// tested with any environment without touching the process's own.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace pvsim::os {

class Environment {
  public:
    using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

    explicit Environment(Lookup lookup) : lookup_(std::move(lookup)) {}

    // The environment this process was started with (getenv).
    static Environment process();
    // A fixed set of variables; everything else is unset.
    static Environment from_map(std::map<std::string, std::string, std::less<>> variables);

    // The value of `name`, or nullopt when it is unset. An empty value is
    // returned as such; callers decide whether empty means unset.
    std::optional<std::string> get(std::string_view name) const { return lookup_(name); }

    // Like get(), but an empty value counts as unset (as the XDG base
    // directory specification treats $XDG_RUNTIME_DIR).
    std::optional<std::string> get_non_empty(std::string_view name) const;

  private:
    Lookup lookup_;
};

}  // namespace pvsim::os
