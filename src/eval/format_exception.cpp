// The shell's text for an exception: the rules of erl_error:format_exception/7 (OTP 25) as
// shell:report_exception/4 uses them (column 4 after "** ", frames of erl_eval and shell
// trimmed from the end), with the argument explanations of erl_erts_errors for the BIFs
// nodus has. Terms are written by a term_formatter (default: ~tp on one line); layouts that
// depend on line breaks follow erl's decisions given what the formatter returns.
#include <algorithm>
#include <map>

#include "eval_impl.hpp"
#include "nodus/io/format.hpp"
#include "nodus/term/text.hpp"

namespace nodus::eval {

using namespace nodus::literals;

namespace {

constexpr std::size_t line_length = 80;

std::string spaces(std::size_t n) {
    return std::string(n, ' ');
}

std::size_t count_nl(std::string_view s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

// Characters, not bytes (string:length/1 for what we produce: UTF-8).
std::size_t text_length(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

std::string write_atom(atom a) {
    std::string out;
    print_atom(out, a);
    return out;
}

std::string exited(exception_class c) {
    switch (c) {
        case exception_class::error:
            return "exception error: ";
        case exception_class::exit:
            return "exception exit: ";
        case exception_class::throw_:
            return "exception throw: ";
    }
    return "exception error: ";
}

struct formatter {
    term_formatter pf;
    std::string operator()(const term& t, std::size_t column) const {
        if (pf) return pf(t, column);
        atom local = nodus::detail::current_or_null() ? self().node() : atom(atoms::nonode_nohost);
        return pretty_text(t, column, local);
    }
};

bool is_stacktrace(const term& st) {
    for (const term* l = &st; !l->is_nil(); l = &l->tail()) {
        if (!l->is_cons()) return false;
        const term& f = l->head();
        if (!f.is_tuple(4) || !f[0].is_atom() || !f[1].is_atom() || !f[3].is_list()) return false;
        if (!f[2].is_integer() && !f[2].list_length()) return false;
    }
    return true;
}

// erl_internal:op_type/2 exists for these.
bool is_op(const term& m, const term& f, std::size_t arity) {
    if (!m.is_atom(atoms::erlang) || !f.is_atom()) return false;
    std::string_view n = f.as_atom().name();
    static const char* binary_ops[] = {"+",   "-",   "*",   "/",   "div", "rem", "band", "bor", "bxor",
                                       "bsl", "bsr", "and", "or",  "xor", "==",  "/=",   "=<",  "<",
                                       ">=",  ">",   "=:=", "=/=", "++",  "--",  "!"};
    static const char* unary_ops[] = {"+", "-", "bnot", "not"};
    if (arity == 2)
        return std::any_of(std::begin(binary_ops), std::end(binary_ops),
                           [&](const char* o) { return n == o; });
    if (arity == 1)
        return std::any_of(std::begin(unary_ops), std::end(unary_ops), [&](const char* o) { return n == o; });
    return false;
}

std::string mf_to_string(const term& m, const term& f, std::size_t arity) {
    if (m.is_atom(atoms::erlang) && f.is_atom() &&
        detail::is_auto_imported(f.as_atom(), static_cast<unsigned>(arity)))
        return write_atom(f.as_atom());
    if (is_op(m, f, arity)) {
        if (f.is_atom(atom("/"))) return write_atom(f.as_atom());
        return std::string(f.as_atom().name());
    }
    std::string out = m.is_atom() ? write_atom(m.as_atom()) : format_w(m);
    out += ":";
    out += f.is_atom() ? write_atom(f.as_atom()) : format_w(f);
    return out;
}

std::string mfa_to_string(const term& m, const term& f, std::size_t arity) {
    return mf_to_string(m, f, arity) + "/" + std::to_string(arity);
}

std::size_t n_args(const term& a) {
    if (a.is_integer()) return static_cast<std::size_t>(a.to_int64().value_or(0));
    return a.list_length().value_or(0);
}

std::string location(const term& info) {
    std::optional<std::string> file;
    std::optional<std::string> line;
    for (const term* l = &info; l->is_cons(); l = &l->tail()) {
        const term& p = l->head();
        if (p.is_tuple(2) && p[0].is_atom("file"_a)) file = detail::string_utf8(p[1]).value_or("");
        if (p.is_tuple(2) && p[0].is_atom("line"_a)) line = format_w(p[1]);
    }
    if (file && line) return "(" + *file + ", line " + *line + ")";
    return "";
}

// The arguments of a call, "(A1,A2)", written from column i.
std::string pp_arguments(const formatter& pf, const term& args, std::size_t column) {
    std::string s = pf(args, column + 1);
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') return "(" + s.substr(1, s.size() - 2) + ")";
    if (s.size() >= 2 && s.front() == '"') {
        // A printable argument list prints as a string; erl writes the integers instead.
        return "(" + format_w(args).substr(1, format_w(args).size() - 2) + ")";
    }
    return "(" + s + ")";
}

std::string format_op(const std::string& err_str, const std::string& pre, const term& op,
                      const std::vector<term>& args, const formatter& pf) {
    std::string ops(op.as_atom().name());
    if (args.size() == 1) {
        std::string opsp = ops + " ";
        std::size_t i1 = err_str.size() + pre.size() + opsp.size();
        return opsp + pf(args[0], i1 + 1);
    }
    std::size_t i1 = err_str.size() + pre.size();
    std::string s1 = pf(args[0], i1 + 1);
    std::string s2 = pf(args[1], i1 + 1);
    std::string pre1 = "\n" + spaces(i1);
    if (count_nl(s1) > 0) return s1 + pre1 + ops + pre1 + s2;
    std::string ops2 = " " + ops + " ";
    std::size_t size1 = err_str.size() + pre.size() + ops2.size();
    std::string s2_2 = pf(args[1], size1 + text_length(s1) + 1);
    if (count_nl(s2) < count_nl(s2_2)) return s1 + pre1 + ops + pre1 + s2;
    return s1 + ops2 + s2_2;
}

// erl_error:format_call/7 for {M, F} and arguments.
std::string format_call(const std::string& err_str, const std::string& pre1, const term& m, const term& f,
                        const term& args_list, const formatter& pf) {
    std::vector<term> args = detail::list_to_vector(args_list).value_or(std::vector<term>{});
    if (is_op(m, f, args.size())) return err_str + format_op(err_str, pre1, f, args, pf);
    std::string mfs = mf_to_string(m, f, args.size());
    std::size_t i1 = text_length(pre1 + err_str + mfs);
    std::string s1 = pp_arguments(pf, args_list, i1);
    std::string s2 = pp_arguments(pf, args_list, text_length(pre1 + mfs));
    std::string s3 = pp_arguments(pf, list({"a2345"_a, "b2345"_a}), i1);
    // Whether the short probe arguments still fit on the line where the call starts.
    bool long_line = count_nl(s3) > 0 || i1 + 1 + 13 > line_length;
    if (long_line || count_nl(s2) < count_nl(s1)) return err_str + "\n" + pre1 + mfs + s2;
    return err_str + mfs + s1;
}

std::string format_value(const term& v, const std::string& err_str, exception_class c, const formatter& pf,
                         const std::string& s) {
    std::size_t pre1 = exited(c).size();
    std::string s1 = pf(v, pre1 + s.size() + err_str.size() + 1);
    std::size_t n1 = count_nl(s1);
    if (n1 > 1) {
        std::string s2 = pf(v, s.size() + 1 + pre1);
        if (count_nl(s2) < n1) return err_str + "\n" + s + spaces(pre1) + s2;
    }
    return err_str + s1;
}

std::string argss(std::size_t n) {
    if (n == 0) return "no arguments";
    if (n == 1) return "one argument";
    if (n == 2) return "two arguments";
    return std::to_string(n) + " arguments";
}

std::string format_fun(const term& fun) {
    if (fun.is_export())
        return mfa_to_string(term(fun.export_module()), term(fun.export_function()), fun.fun_arity());
    if (is_interpreted_fun(fun)) return "interpreted function with arity " + std::to_string(fun.fun_arity());
    return format_w(fun);
}

std::string explain_reason(const term& reason, exception_class c, const term& trace1, const formatter& pf,
                           const std::string& s) {
    auto tag = [&](const char* name, std::size_t arity) {
        return reason.is_tuple(arity) && reason[0].is_atom(atom(name));
    };
    if (c == exception_class::error && trace1.is_nil()) {
        if (reason.is_atom(atoms::badarg)) return "bad argument";
        if (tag("badarg", 2)) return format_value(reason[1], "bad argument: ", c, pf, s);
        if (tag("badkey", 2)) return format_value(reason[1], "bad key: ", c, pf, s);
        if (tag("badmap", 2)) return format_value(reason[1], "bad map: ", c, pf, s);
        if (reason.is_atom("badarith"_a)) return "an error occurred when evaluating an arithmetic expression";
        if (tag("badarity", 2) && reason[1].is_tuple(2) && reason[1][0].is_fun())
            return format_fun(reason[1][0]) + " called with " + argss(reason[1][1].list_length().value_or(0));
        if (tag("badfun", 2)) return format_value(reason[1], "bad function ", c, pf, s);
        if (tag("badmatch", 2))
            return format_value(reason[1], "no match of right hand side value ", c, pf, s);
        if (tag("case_clause", 2)) return format_value(reason[1], "no case clause matching ", c, pf, s);
        if (reason.is_atom("if_clause"_a)) return "no true branch found when evaluating an if expression";
        if (reason.is_atom(atoms::noproc)) return "no such process or port";
        if (reason.is_atom("notalive"_a)) return "the node cannot be part of a distributed system";
        if (reason.is_atom(atoms::system_limit)) return "a system limit has been reached";
        if (reason.is_atom("timeout_value"_a)) return "bad receive timeout value";
        if (tag("try_clause", 2)) return format_value(reason[1], "no try clause matching ", c, pf, s);
        if (tag("shell_undef", 4) && reason[1].is_atom())
            return "undefined shell command " + write_atom(reason[1].as_atom()) + "/" +
                   std::to_string(n_args(reason[2]));
        if (tag("argument_limit", 2)) return "limit of number of arguments to interpreted function exceeded";
        if (tag("bad_filter", 2)) return format_value(reason[1], "bad filter ", c, pf, s);
        if (tag("bad_generator", 2)) return format_value(reason[1], "bad generator ", c, pf, s);
        if (tag("unbound", 2)) return "variable " + format_w(reason[1]) + " is unbound";
    }
    if (c == exception_class::error && trace1.is_cons()) {
        const term& fr = trace1.head();
        if (reason.is_atom("function_clause"_a) && fr.is_tuple(4) && fr[0].is_atom("shell"_a) &&
            fr[2].is_integer())
            return "no function clause matching call to " + format_w(fr[1]) + "/" + format_w(fr[2]);
        if (reason.is_atom("function_clause"_a) && fr.is_tuple(4) && fr[2].is_list()) {
            std::string pre1 = s + spaces(exited(c).size());
            std::string call = format_call("no function clause matching ", pre1, fr[0], fr[1], fr[2], pf);
            return call + " " + location(fr[3]);
        }
        if (reason.is_atom(atoms::undef) && fr.is_tuple(4))
            return "undefined function " + mfa_to_string(fr[0], fr[1], n_args(fr[2]));
    }
    if (c == exception_class::exit && trace1.is_nil() && reason.is_atom("calling_self"_a))
        return "the current process attempted to call itself";
    return pf(reason, s.size() + 1 + exited(c).size());
}

// ---- erl_erts_errors, for the BIFs nodus has ----

std::string must_be_list(const term& t, const std::string& otherwise) {
    if (!t.is_list()) return "not a list";
    if (!t.list_length()) return "not a proper list";
    return otherwise;
}

// Argument number -> explanation, for erlang:F(Args) failing with reason.
std::map<std::size_t, std::string> explain_erlang(atom f, const std::vector<term>& a, const term& reason) {
    std::map<std::size_t, std::string> out;
    std::string n(f.name());
    auto set = [&](std::size_t i, std::string msg) {
        if (!msg.empty()) out[i] = std::move(msg);
    };
    std::size_t k = a.size();
    (void)reason;
    if ((n == "abs" || n == "ceil" || n == "floor" || n == "round" || n == "trunc" || n == "float") &&
        k == 1) {
        set(1, "not a number");
    } else if ((n == "atom_to_list" || (n == "atom_to_binary" && k == 1) || n == "whereis") && k == 1) {
        set(1, "not an atom");
    } else if (n == "binary_to_list" && k == 1) {
        set(1, "not a binary");
    } else if ((n == "bit_size" || n == "byte_size") && k == 1) {
        set(1, "not a bitstring");
    } else if ((n == "element" && k == 2) || (n == "setelement" && k == 3) ||
               (n == "delete_element" && k == 2) || (n == "insert_element" && k == 3)) {
        const term& index = a[0];
        const term& tup = a[1];
        if (!index.is_integer()) {
            set(1, "not an integer");
        } else {
            auto i = index.to_int64();
            if (!i || *i <= 0 || !tup.is_tuple() || static_cast<std::uint64_t>(*i) > tup.tuple_size())
                set(1, "out of range");
        }
        if (!tup.is_tuple()) set(2, "not a tuple");
    } else if ((n == "hd" || n == "tl") && k == 1) {
        set(1, "not a nonempty list");
    } else if ((n == "length" || n == "list_to_tuple") && k == 1) {
        set(1, "not a list");
    } else if (n == "list_to_atom" && k == 1) {
        set(1, must_be_list(a[0], "not a list of characters"));
    } else if (n == "list_to_existing_atom" && k == 1) {
        set(1, detail::string_utf8(a[0]) ? "not an already existing atom"
                                         : must_be_list(a[0], "not a list of characters"));
    } else if (n == "list_to_binary" && k == 1) {
        set(1, "not an iolist term");
    } else if ((n == "iolist_to_binary" || n == "iolist_size") && k == 1) {
        set(1, "not an iodata term");
    } else if ((n == "integer_to_list" || n == "integer_to_binary") && k == 1) {
        set(1, "not an integer");
    } else if ((n == "integer_to_list" || n == "integer_to_binary") && k == 2) {
        if (!a[0].is_integer()) set(1, "not an integer");
        auto b = a[1].to_int64();
        if (!b || *b < 2 || *b > 36) set(2, "not an integer in the range 2 through 36");
    } else if (n == "list_to_integer" && k == 1) {
        set(1, a[0].list_length() ? "not a textual representation of an integer" : "not a list");
    } else if (n == "list_to_float" && k == 1) {
        set(1, a[0].list_length() ? "not a textual representation of a float" : "not a list");
    } else if (n == "binary_to_integer" && k == 1) {
        set(1, a[0].is_binary() ? "not a textual representation of an integer" : "not a binary");
    } else if (n == "map_size" && k == 1) {
        set(1, "not a map");
    } else if (n == "map_get" && k == 2) {
        if (a[1].is_map())
            set(1, "not present in map");
        else
            set(2, "not a map");
    } else if (n == "is_map_key" && k == 2) {
        set(2, "not a map");
    } else if ((n == "tuple_size" || n == "tuple_to_list") && k == 1) {
        set(1, "not a tuple");
    } else if (n == "size" && k == 1) {
        set(1, "not tuple or binary");
    } else if ((n == "unlink" || n == "is_process_alive" || n == "unregister") && k == 1) {
        set(1, "not a pid");
    } else if (n == "exit" && k == 2) {
        set(1, "not a pid");
    } else if (n == "link" && k == 1) {
        set(1, a[0].is_pid() ? "the pid does not refer to an existing process" : "not a pid");
    } else if ((n == "spawn" || n == "spawn_link" || n == "spawn_monitor") && k == 1) {
        set(1, "not a fun");
    } else if ((n == "spawn" || n == "spawn_link") && k == 3) {
        if (!a[0].is_atom()) set(1, "not an atom");
        if (!a[1].is_atom()) set(2, "not an atom");
        set(3, must_be_list(a[2], ""));
    } else if (n == "apply" && k == 3) {
        if (!a[0].is_atom()) set(1, "not an atom");
        if (!a[1].is_atom()) set(2, "not an atom");
        set(3, must_be_list(a[2], ""));
    } else if ((n == "send" && k == 2)) {
        set(1, "invalid destination");
    } else if (n == "binary_to_term" && k == 1) {
        set(1, a[0].is_binary() ? "invalid external representation of a term" : "not a binary");
    } else if (n == "list_to_pid" && k == 1) {
        set(1, a[0].list_length() ? "not a textual representation of a pid" : "not a list");
    } else if (n == "term_to_binary" && k == 2) {
        set(2, must_be_list(a[1], "invalid option in list"));
    } else if (n == "monitor" && k == 2) {
        if (!a[0].is_atom(atoms::process) && !a[0].is_atom("port"_a))
            set(1, "invalid monitor type");
        else if (a[0].is_atom(atoms::process))
            set(2, "not a pid");
    } else if (n == "demonitor" && k == 1) {
        set(1, "not a reference");
    } else if (n == "cancel_timer" && k == 1) {
        set(1, "not a reference");
    } else if (n == "register" && k == 2) {
        if (!a[0].is_atom() || a[0].is_atom(atoms::undefined))
            set(1, a[0].is_atom(atoms::undefined) ? "'undefined' is not a valid name" : "not an atom");
        else if (!a[1].is_pid())
            set(2, "not a pid or port");
    } else if (n == "nodes" && k == 1) {
        set(1, a[0].is_atom()   ? "not a valid node type"
               : a[0].is_list() ? "not a list of valid node types"
                                : "not a valid node type or list of valid node types");
    } else if (n == "node" && k == 1) {
        set(1, "not a pid");
    } else if (n == "set_cookie" && k == 1) {
        if (!a[0].is_atom()) set(1, "not an atom");
    } else if (n == "monitor_node" && k == 2) {
        if (!a[0].is_atom()) set(1, "not an atom");
        if (!a[1].is_bool()) set(2, "not a boolean ('true' or 'false')");
    } else if (n == "atom_to_binary" && k == 2) {
        if (!a[0].is_atom())
            set(1, "not an atom");
        else if (a[1].is_atom(atoms::latin1))
            set(1, "contains a character not expressible in latin1");
        if (!(a[1].is_atom(atoms::latin1) || a[1].is_atom(atoms::unicode) || a[1].is_atom("utf8"_a)))
            set(2, "is an invalid encoding option");
    } else if (n == "list_to_binary" || n == "tuple_to_list") {
        set(1, "not a list");
    } else if (n == "make_tuple" && k == 2) {
        set(1, "out of range");
    } else if (n == "binary_part" && k == 3) {
        if (!a[0].is_binary())
            set(1, "not a binary");
        else
            set(3, "out of range");
    } else if (n == "split_binary" && k == 2) {
        if (!a[0].is_binary())
            set(1, "not a binary");
        else
            set(2, "out of range");
    } else if (n == "float_to_list" && k == 1) {
        set(1, "not a float");
    } else if (n == "process_info" && k >= 1) {
        if (!a[0].is_pid())
            set(1, "not a pid");
        else if (k == 2)
            set(2, "invalid item or item list");
    } else if (n == "process_flag" && k == 2) {
        if (!a[0].is_atom("trap_exit"_a))
            set(1, "invalid process flag");
        else
            set(2, "invalid value for this process flag");
    } else if (n == "send_after" && k == 3) {
        auto t = a[0].to_int64();
        if (!t || *t < 0)
            set(1, "not a valid time value");  // erl_erts_errors: start_timer
        else
            set(2, "not a pid or an atom");
    }
    return out;
}

// erl_stdlib_errors for the maps functions nodus has.
std::map<std::size_t, std::string> explain_maps(atom f, const std::vector<term>& a, const term& reason) {
    std::map<std::size_t, std::string> out;
    std::string n(f.name());
    std::size_t k = a.size();
    bool badkey = reason.is_tuple(2) && reason[0].is_atom("badkey"_a);
    auto map_arg = [&](std::size_t i) {
        if (i <= k && !a[i - 1].is_map()) out[i] = "not a map";
    };
    if ((n == "get" && (k == 2 || k == 3)) || (n == "update" && k == 3)) {
        if (badkey && n == "get") out[1] = "not present in map";
        map_arg(n == "update" ? 3 : 2);
    } else if ((n == "find" || n == "remove" || n == "is_key" || n == "take") && k == 2) {
        map_arg(2);
    } else if (n == "put" && k == 3) {
        map_arg(3);
    } else if ((n == "keys" || n == "values" || n == "to_list" || n == "size") && k == 1) {
        map_arg(1);
    } else if (n == "merge" && k == 2) {
        map_arg(1);
        map_arg(2);
    }
    return out;
}

std::map<std::size_t, std::string> extended_error(const term& reason, const term& trace) {
    std::map<std::size_t, std::string> none;
    if (!trace.is_cons()) return none;
    const term& top = trace.head();
    if (!top.is_tuple(4) || !top[2].is_list()) return none;
    bool has_info = false;
    for (const term* l = &top[3]; l->is_cons(); l = &l->tail())
        if (l->head().is_tuple(2) && l->head()[0].is_atom("error_info"_a)) has_info = true;
    if (!has_info || !top[1].is_atom()) return none;
    if (top[0].is_atom("maps"_a))
        return explain_maps(top[1].as_atom(), detail::list_to_vector(top[2]).value_or(std::vector<term>{}),
                            reason);
    if (!top[0].is_atom(atoms::erlang)) return none;
    return explain_erlang(top[1].as_atom(), detail::list_to_vector(top[2]).value_or(std::vector<term>{}),
                          reason);
}

std::string format_arg_errors(const std::map<std::size_t, std::string>& errs, const std::string& sep) {
    std::string out;
    for (auto& [i, msg] : errs)
        out += "\n" + sep + "   *** argument " + std::to_string(i) + ": " + msg;
    return out;
}

bool trimmed(const term& frame) {
    return frame.is_tuple(4) && (frame[0].is_atom("erl_eval"_a) || frame[0].is_atom("shell"_a));
}

std::string format_stacktrace(const std::string& s0, const term& stack, const formatter& pf,
                              const std::map<std::size_t, std::string>& first_errors) {
    std::vector<term> frames = detail::list_to_vector(stack).value_or(std::vector<term>{});
    while (!frames.empty() && trimmed(frames.back()))
        frames.pop_back();
    std::string s = "  " + s0;
    std::string out;
    for (std::size_t n = 1; n <= frames.size(); ++n) {
        const term& fr = frames[n - 1];
        std::string sep = n == 1 ? s : "\n" + s;
        std::size_t arity = n_args(fr[2]);
        std::string origin =
            n == 1 ? (is_op(fr[0], fr[1], arity) ? "in operator " : "in function ") : "in call from";
        std::string errs = n == 1 ? format_arg_errors(first_errors, sep) : "";
        if (fr[2].is_integer()) {
            out += sep + origin + " " + mfa_to_string(fr[0], fr[1], arity) + " " + location(fr[3]) + errs;
        } else {
            std::string called_as = s + "   called as ";
            std::string call = format_call("", called_as, fr[0], fr[1], fr[2], pf);
            out += sep + origin + " " + mfa_to_string(fr[0], fr[1], arity) + "\n" + called_as + call + errs;
        }
    }
    return out;
}

}  // namespace

std::string pretty_text(const term& t, std::size_t column, atom local_node) {
    // io_lib:format lays ~tp out from the column its preceding text ends at, exactly as
    // io_lib_pretty:print(T, [{column, C}, {line_length, 80}]): pad, format, drop the pad.
    std::size_t pad = column > 1 ? std::min<std::size_t>(column - 1, 200) : 0;
    io_lib::format_options o;
    o.local_node = local_node;
    o.unicode_printable = false;
    term args = list({t});
    auto r = io_lib::format(string(std::string(pad, ' ') + "~tp"), args, o);
    if (!r || r->size() < pad) return to_text(t, {print_style::p, local_node, {}, true});
    return r->substr(pad);
}

std::string format_exception(exception_class c, const term& reason, const term& stacktrace,
                             const term_formatter& format) {
    formatter pf{format};
    const std::size_t column = 4;  // after "** "
    std::string s = spaces(column - 1);
    term trace1, trace, value = reason;
    if (!is_stacktrace(stacktrace)) {
        value = tuple(reason, stacktrace);
    } else if (c == exception_class::error && stacktrace.is_cons() && stacktrace.head().is_tuple(4) &&
               ((reason.is_atom("function_clause"_a) && stacktrace.head()[2].is_list()) ||
                reason.is_atom(atoms::undef))) {
        trace1 = list({stacktrace.head()});
        trace = stacktrace.tail();
    } else if (c == exception_class::error && reason.is_atom("function_clause"_a) && stacktrace.is_cons() &&
               stacktrace.tail().is_nil() && stacktrace.head().is_tuple(4) &&
               stacktrace.head()[0].is_atom("shell"_a) && stacktrace.head()[2].is_integer()) {
        trace1 = list({stacktrace.head()});
        trace = stacktrace.tail();
    } else {
        trace = stacktrace;
    }
    auto errors = extended_error(reason, trace);
    std::string st = format_stacktrace(s, trace, pf, errors);
    std::string expl = exited(c) + explain_reason(value, c, trace1, pf, s);
    if (st.empty()) return expl;
    return expl + "\n" + st;
}

std::string format_shell_exception(exception_class c, const term& reason, const term& stacktrace,
                                   const term_formatter& format) {
    return "** " + format_exception(c, reason, stacktrace, format);
}

}  // namespace nodus::eval
