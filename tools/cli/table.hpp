// Human output as aligned columns (DESIGN.md §8: tables for people, JSON
// for programs), like xl list's.
#pragma once

#include <string>
#include <vector>

namespace pvsim::tools::cli {

class Table {
  public:
    // Columns whose header starts with '>' are right-aligned (numbers); the
    // '>' is not printed.
    explicit Table(std::vector<std::string> headers);
    void add(std::vector<std::string> row);
    // Every line ends with '\n'; columns are separated by two spaces.
    std::string render() const;

  private:
    std::vector<std::string> headers_;
    std::vector<bool> right_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace pvsim::tools::cli
