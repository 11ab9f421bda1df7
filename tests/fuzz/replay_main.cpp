// The harnesses' main() where libFuzzer is not there (a GCC build): runs
// LLVMFuzzerTestOneInput once on each file named, and on every file of each
// directory named, as libFuzzer does with `-runs=0 DIR`, so that ctest's
// fuzz.<target>.corpus command is the same in every build. Arguments
// starting with '-' are libFuzzer's flags and are ignored.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace replay_main {

int run_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::cerr << "cannot read " << file.string() << "\n";
        return 1;
    }
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                                  std::istreambuf_iterator<char>()};
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return 0;
}

}  // namespace replay_main

int main(int argc, char** argv) {
    int status = 0;
    std::size_t runs = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.starts_with("-")) {
            continue;
        }
        if (std::filesystem::is_directory(arg)) {
            for (const auto& entry : std::filesystem::directory_iterator(arg)) {
                if (entry.is_regular_file()) {
                    status |= replay_main::run_file(entry.path());
                    ++runs;
                }
            }
        } else {
            status |= replay_main::run_file(arg);
            ++runs;
        }
    }
    std::cout << "replayed " << runs << " inputs\n";
    return status;
}
