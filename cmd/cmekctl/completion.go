package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// completionCommand prints a shell's completion script, made from the command table: it joins the
// table in init, as the script it prints reads the whole table.
var completionCommand = command{name: "completion", args: []string{"SHELL"}, local: true,
	summary: "print the shell completion script for bash, zsh or fish",
	help: `Prints a script that completes cmekctl's commands, subcommands and flags in SHELL (bash, zsh or
fish). Load it in the current shell, or install it for every new one:

  bash: source <(cmekctl completion bash)      or save it in ~/.local/share/bash-completion/completions/cmekctl
  zsh:  source <(cmekctl completion zsh)       or save it as _cmekctl in a directory of $fpath
  fish: cmekctl completion fish | source       or save it in ~/.config/fish/completions/cmekctl.fish`,
	setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		return func(_ context.Context, e *env, args []string) error {
			return writeCompletion(e.stdout, args[0])
		}
	}}

func init() { commands = append(commands, completionCommand) }

// completionSpec is what a script completes: the top-level words, each one's subcommands, and the
// flags of every command ("orgs", "orgs create"), as the parser accepts them.
type completionSpec struct {
	tops    []string
	subs    map[string][]string
	flags   map[string][]string
	summary map[string]string
}

func completionTable() completionSpec {
	s := completionSpec{subs: map[string][]string{}, flags: map[string][]string{}, summary: map[string]string{}}
	for _, c := range commands {
		top, sub, _ := strings.Cut(c.name, " ")
		if !slices.Contains(s.tops, top) {
			s.tops = append(s.tops, top)
		}
		if sub != "" {
			s.subs[top] = append(s.subs[top], sub)
		} else if lists(&c) {
			s.subs[top] = append(s.subs[top], "list")
		}
		s.summary[c.name] = c.summary
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.String("o", "", "")
		if c.orgScoped {
			fs.String("org", "", "")
		}
		c.setup(fs)
		fs.VisitAll(func(f *flag.Flag) { s.flags[c.name] = append(s.flags[c.name], dashed(f.Name)) })
		s.flags[c.name] = append(s.flags[c.name], "--help")
	}
	sort.Strings(s.tops)
	for _, v := range s.subs {
		sort.Strings(v)
	}
	return s
}

// dashed is a flag as people type it: -o, --name.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// keys are the table's command names, sorted, so the scripts come out the same every time.
func (s completionSpec) keys() []string {
	var k []string
	for name := range s.flags {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}

func writeCompletion(w io.Writer, shell string) error {
	s := completionTable()
	switch shell {
	case "bash":
		s.bash(w)
	case "zsh":
		s.zsh(w)
	case "fish":
		s.fish(w)
	default:
		return errors.New("SHELL is bash, zsh or fish")
	}
	return nil
}

func (s completionSpec) bash(w io.Writer) {
	fmt.Fprint(w, `# bash completion for cmekctl; made by: cmekctl completion bash
_cmekctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} words
    if [[ $COMP_CWORD -gt 2 ]] && _cmekctl_flags "${COMP_WORDS[1]} ${COMP_WORDS[2]}" >/dev/null; then
        cmd="${COMP_WORDS[1]} ${COMP_WORDS[2]}"
    fi
    if [[ $COMP_CWORD -eq 1 ]]; then
        words="`+strings.Join(s.tops, " ")+`"
    elif [[ $cur == -* ]]; then
        words=$(_cmekctl_flags "$cmd")
    elif [[ $COMP_CWORD -eq 2 ]]; then
        words=$(_cmekctl_subs "$cmd")
    else
        return
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
_cmekctl_subs() {
    case "$1" in
`)
	for _, top := range s.tops {
		if subs := s.subs[top]; len(subs) > 0 {
			fmt.Fprintf(w, "        %s) echo %q ;;\n", top, strings.Join(subs, " "))
		}
	}
	fmt.Fprint(w, `    esac
}
_cmekctl_flags() {
    case "$1" in
`)
	for _, name := range s.keys() {
		fmt.Fprintf(w, "        %q) echo %q ;;\n", name, strings.Join(s.flags[name], " "))
	}
	fmt.Fprint(w, `        *) return 1 ;;
    esac
}
complete -o default -F _cmekctl cmekctl
`)
}

func (s completionSpec) zsh(w io.Writer) {
	fmt.Fprint(w, `#compdef cmekctl
# zsh completion for cmekctl; made by: cmekctl completion zsh
typeset -gA _cmekctl_subs _cmekctl_flags
_cmekctl_subs=(
`)
	for _, top := range s.tops {
		if subs := s.subs[top]; len(subs) > 0 {
			fmt.Fprintf(w, "    %s %q\n", top, strings.Join(subs, " "))
		}
	}
	fmt.Fprint(w, ")\n_cmekctl_flags=(\n")
	for _, name := range s.keys() {
		fmt.Fprintf(w, "    %q %q\n", name, strings.Join(s.flags[name], " "))
	}
	fmt.Fprint(w, `)
_cmekctl() {
    local cmd=$words[2]
    if (( CURRENT > 3 )) && (( ${+_cmekctl_flags[$words[2] $words[3]]} )); then
        cmd="$words[2] $words[3]"
    fi
    if (( CURRENT == 2 )); then
        compadd -- `+strings.Join(s.tops, " ")+`
    elif [[ $PREFIX == -* ]]; then
        compadd -- ${=_cmekctl_flags[$cmd]}
    elif (( CURRENT == 3 )) && (( ${+_cmekctl_subs[$cmd]} )); then
        compadd -- ${=_cmekctl_subs[$cmd]}
    else
        _files
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _cmekctl "$@"
else
    compdef _cmekctl cmekctl
fi
`)
}

func (s completionSpec) fish(w io.Writer) {
	fmt.Fprint(w, "# fish completion for cmekctl; made by: cmekctl completion fish\ncomplete -c cmekctl -f\n")
	fmt.Fprintf(w, "complete -c cmekctl -n __fish_use_subcommand -a %q\n", strings.Join(s.tops, " "))
	for _, name := range s.keys() {
		top, sub, _ := strings.Cut(name, " ")
		cond := "__fish_seen_subcommand_from " + top
		if sub != "" {
			cond += "; and __fish_seen_subcommand_from " + sub
		} else if subs := s.subs[top]; len(subs) > 0 {
			fmt.Fprintf(w, "complete -c cmekctl -n '%s; and not __fish_seen_subcommand_from %s' -a %q\n",
				cond, strings.Join(subs, " "), strings.Join(subs, " "))
			cond += "; and not __fish_seen_subcommand_from " + strings.Join(subs, " ")
		}
		for _, f := range s.flags[name] {
			opt := "-l " + strings.TrimPrefix(f, "--")
			if !strings.HasPrefix(f, "--") {
				opt = "-s " + strings.TrimPrefix(f, "-")
			}
			fmt.Fprintf(w, "complete -c cmekctl -n '%s' %s\n", cond, opt)
		}
	}
}
