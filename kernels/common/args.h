// Minimal "--name value" option parsing for the measuring programs: they must
// build with the C++ standard library alone.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace slsim::kernels {

class Args {
 public:
  // Options without a value ("--flag") are stored as "1".
  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) fail("unexpected argument '" + a + "'");
      a = a.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        values_[a].push_back(argv[++i]);
      } else {
        values_[a].push_back("1");
      }
    }
  }

  std::string str(const std::string& name, const std::string& def) {
    used_[name] = true;
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second.back();
  }
  std::vector<std::string> all(const std::string& name) {
    used_[name] = true;
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  long long integer(const std::string& name, long long def) {
    const std::string v = str(name, "");
    return v.empty() ? def : std::stoll(v);
  }
  double real(const std::string& name, double def) {
    const std::string v = str(name, "");
    return v.empty() ? def : std::stod(v);
  }
  bool flag(const std::string& name) { return str(name, "0") != "0"; }
  std::vector<long long> integers(const std::string& name, const std::string& def) {
    std::vector<long long> out;
    std::stringstream ss(str(name, def));
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) out.push_back(std::stoll(item));
    }
    return out;
  }

  // Call after reading every option: a misspelt option must not silently fall back to a default.
  void reject_unknown() const {
    for (const auto& [name, v] : values_) {
      if (!used_.count(name)) fail("unknown option --" + name);
    }
  }

 private:
  [[noreturn]] static void fail(const std::string& msg) {
    std::fprintf(stderr, "error: %s (see kernels/README.md for the options)\n", msg.c_str());
    std::exit(2);
  }
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, bool> used_;
};

}  // namespace slsim::kernels
