#include "cli/args.hpp"

#include <getopt.h>

#include <cerrno>
#include <cstdlib>

namespace veil::cli {

Result<std::vector<std::string>> parse_args(const std::string& command, int argc, char** argv,
                                            const std::vector<Opt>& opts, bool stop_at_positional) {
  std::vector<struct option> longopts;
  std::string shortopts = stop_at_positional ? "+:" : ":";
  for (size_t i = 0; i < opts.size(); ++i) {
    const auto& o = opts[i];
    longopts.push_back({o.name, o.takes_value ? required_argument : no_argument, nullptr,
                        static_cast<int>(256 + i)});
    if (o.letter) {
      shortopts += o.letter;
      if (o.takes_value) shortopts += ':';
    }
  }
  longopts.push_back({nullptr, 0, nullptr, 0});

  optind = 0;  // full re-initialisation (glibc), so each subcommand parses afresh
  opterr = 0;
  for (;;) {
    int longindex = -1;
    int c = getopt_long(argc, argv, shortopts.c_str(), longopts.data(), &longindex);
    if (c == -1) break;
    if (c == '?') {
      std::string bad =
          optopt ? std::string("-") + static_cast<char>(optopt) : std::string(argv[optind - 1]);
      return fail(command + ": unknown option " + bad + " (see " + command + " --help)",
                  kUsageErrno);
    }
    if (c == ':') {
      std::string which =
          optopt ? std::string("-") + static_cast<char>(optopt) : std::string(argv[optind - 1]);
      return fail(command + ": option " + which + " needs a value", kUsageErrno);
    }
    size_t idx = opts.size();
    if (c >= 256) {
      idx = static_cast<size_t>(c - 256);
    } else {
      for (size_t i = 0; i < opts.size(); ++i)
        if (opts[i].letter == c) idx = i;
    }
    if (idx >= opts.size()) return fail(command + ": unexpected option", kUsageErrno);
    if (auto r = opts[idx].set(optarg ? optarg : ""); !r)
      return fail(command + ": --" + opts[idx].name + ": " + r.error().msg, kUsageErrno);
  }
  std::vector<std::string> pos;
  for (int i = optind; i < argc; ++i) pos.emplace_back(argv[i]);
  return pos;
}

std::function<Result<>(const std::string&)> to(std::string& dst) {
  return [&dst](const std::string& v) -> Result<> {
    dst = v;
    return {};
  };
}

std::function<Result<>(const std::string&)> flag(bool& dst) {
  return [&dst](const std::string&) -> Result<> {
    dst = true;
    return {};
  };
}

std::function<Result<>(const std::string&)> to_int(int& dst, const char* what) {
  return [&dst, what](const std::string& v) -> Result<> {
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || errno || n < 0 || n > 1 << 20)
      return fail(std::string("expected ") + what + ", got \"" + v + "\"");
    dst = static_cast<int>(n);
    return {};
  };
}

}  // namespace veil::cli
