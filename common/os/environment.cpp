#include "common/os/environment.hpp"

#include <cstdlib>

namespace pvsim::os {

Environment Environment::process() {
    return Environment([](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) {
            return std::nullopt;
        }
        return std::string(value);
    });
}

Environment Environment::from_map(std::map<std::string, std::string, std::less<>> variables) {
    return Environment(
        [vars = std::move(variables)](std::string_view name) -> std::optional<std::string> {
            auto it = vars.find(name);
            if (it == vars.end()) {
                return std::nullopt;
            }
            return it->second;
        });
}

std::optional<std::string> Environment::get_non_empty(std::string_view name) const {
    auto value = get(name);
    if (value && value->empty()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace pvsim::os
