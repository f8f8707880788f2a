// --config FILE: an INI file of options applied to a parsed command; see the
// header. (CLI11 2.1 reads config files only for the top-level app, so the
// file is applied here, after the command line was parsed.)
#include "s3bd/cli/config_file.h"

#include <ini.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "s3bd/cli/s3backer_options.h"
#include "s3bd/core/errors.h"

namespace s3bd {

namespace {

struct Item {
  int line;
  std::string name;  // as written
  std::string key;   // '_' read as '-'
  std::string value;
};

struct Parse {
  std::string path;
  std::istream& in;
  std::vector<Item> items;
  std::string error;  // the first error, with its line
  int line = 0;       // the line inih is working on

  // inih's reader (fgets-like): one line per call, without its newline, so
  // that `line` is the line inih's handler is called for.
  static char* ReadLine(char* str, int num, void* stream) {
    auto& p = *static_cast<Parse*>(stream);
    std::string text;
    if (!std::getline(p.in, text)) return nullptr;
    ++p.line;
    if (text.size() >= static_cast<std::size_t>(num) && p.error.empty()) {
      p.error = fmt::format("{}:{}: line longer than {} characters", p.path, p.line, num - 1);
    }
    // A [section] line alone calls no handler: refuse it here.
    const auto first = text.find_first_not_of(" \t");
    if (first != std::string::npos && text[first] == '[' && p.error.empty()) {
      p.error = fmt::format("{}:{}: {}: sections are not used; write key = value lines only", p.path, p.line,
                            text.substr(first));
    }
    const std::size_t n = std::min(text.size(), static_cast<std::size_t>(num - 1));
    text.copy(str, n);
    str[n] = '\0';
    return str;
  }

  // Once per key = value (and per continuation line).
  static int Handle(void* user, const char* section, const char* name, const char* value) {
    auto& p = *static_cast<Parse*>(user);
    if (!p.error.empty()) return 1;  // only the first error is reported
    (void)section;  // none: ReadLine refused every [section] line
    std::string key = name;
    std::replace(key.begin(), key.end(), '_', '-');
    p.items.push_back(Item{p.line, name, std::move(key), value});
    return 1;
  }
};

std::vector<Item> ReadItems(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw UsageError(fmt::format("--config {}: {}", path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) throw UsageError(fmt::format("--config {}: not a regular file", path));
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw UsageError(fmt::format("--config {}: writable by group or others; it names the files s3bd reads "
                                 "credentials and passphrases from (chmod go-w {})",
                                 path, path));
  }
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("--config {}: cannot be read", path));
  Parse p{path, in};
  const int bad = ini_parse_stream(&Parse::ReadLine, &p, &Parse::Handle, &p);
  if (!p.error.empty()) throw UsageError(p.error);
  if (bad != 0) throw UsageError(fmt::format("{}:{}: not a 'key = value' line", path, bad));
  return p.items;
}

// A flag's value as CLI11 takes it.
std::string FlagValue(const std::string& path, const Item& it) {
  static const std::set<std::string> kTrue = {"true", "yes", "on", "1"}, kFalse = {"false", "no", "off", "0"};
  if (kTrue.contains(it.value)) return "true";
  if (kFalse.contains(it.value)) return "false";
  throw UsageError(fmt::format("{}:{}: '{}' is a flag: expected true or false, not '{}'", path, it.line, it.key,
                               it.value));
}

}  // namespace

void AddConfigFileOption(CLI::App& cmd, std::string& path) {
  cmd.add_option("--config", path,
                 "Read options from this file, one 'key = value' per line (see CONFIG FILE in s3bd(8)); the "
                 "command line wins")
      ->configurable(false);
}

void ApplyConfigFile(CLI::App& cmd, const std::string& path, const PositionalKeys& positionals) {
  const std::vector<Item> items = ReadItems(path);
  // Check every line before changing any option, and the whole of the
  // command line's positional arguments against the file's.
  std::set<const CLI::Option*> seen;  // one line per option: f and foreground are one
  std::string positional_key;
  struct Apply {
    CLI::Option* opt;
    const Item* item;
  };
  std::vector<Apply> todo;
  for (const Item& it : items) {
    const auto where = fmt::format("{}:{}", path, it.line);
    if (it.key == "config") throw UsageError(where + ": 'config' cannot name another file");
    CLI::Option* opt = nullptr;
    for (const auto& [pname, pkey] : positionals) {
      if (it.key == pkey) {
        opt = cmd.get_option_no_throw(pname);
        if (positional_key.empty()) positional_key = pkey;
      }
    }
    const bool positional = opt != nullptr;
    if (!positional && !it.key.empty()) {
      opt = cmd.get_option_no_throw(it.key.size() == 1 ? "-" + it.key : "--" + it.key);
      if (opt != nullptr && (!opt->nonpositional() || !opt->get_configurable())) opt = nullptr;
    }
    if (opt == nullptr) {
      if (const auto hint = S3backerOptionHint("--" + it.name)) throw UsageError(where + ": " + *hint);
      throw UsageError(fmt::format("{}: unknown key '{}' (the options of s3bd {}, without the dashes; see s3bd(8), "
                                   "CONFIG FILE)",
                                   where, it.key, cmd.get_name()));
    }
    const bool repeatable = opt->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
    if (!seen.insert(opt).second && !repeatable) throw UsageError(fmt::format("{}: '{}' given twice", where, it.key));
    if (opt->get_expected_max() == 0) (void)FlagValue(path, it);  // checked now, used below
    todo.push_back({opt, &it});
  }
  if (!positional_key.empty()) {
    std::size_t given = 0;
    std::string names;
    for (const auto& [pname, pkey] : positionals) {
      given += cmd.get_option_no_throw(pname)->count() > 0 ? 1 : 0;
      names += (names.empty() ? "" : " and ") + pname;
    }
    if (given != 0 && given != positionals.size()) {
      throw UsageError(fmt::format("{} names '{}': give {} on the command line, or none of them", path,
                                   positional_key, names));
    }
  }
  // The command line's options stay as they are; -o (repeatable) gains the
  // file's values after its own.
  std::set<CLI::Option*> given_on_command_line;
  for (const Apply& a : todo) {
    if (a.opt->count() > 0 && a.opt->get_multi_option_policy() != CLI::MultiOptionPolicy::TakeAll) {
      given_on_command_line.insert(a.opt);
    }
  }
  for (const Apply& a : todo) {
    if (given_on_command_line.contains(a.opt)) continue;
    a.opt->add_result(a.opt->get_expected_max() == 0 ? FlagValue(path, *a.item) : a.item->value);
    a.opt->run_callback();
  }
}

}  // namespace s3bd
