package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/wsx-go/wsx"
)

// envPrefix starts the name of the environment variable that sets each
// flag: --max-conns is WSX_MAX_CONNS.
const envPrefix = "WSX_"

// envName is the environment variable for a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags sets fs's flags from the environment and then from args, so
// that the command line wins. getenv is os.Getenv outside tests.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("invalid value %q for %s: %v", v, envName(f.Name), err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fs.Parse(args)
}

// flagList says how printFlags lists a command's flags.
type flagList struct {
	order   []string          // flags listed first, in this order; the rest follow by name
	aliases map[string]string // a long name for a short flag, listed with it
	env     bool              // show each flag's environment variable
}

// printFlags writes the flag list of a usage message.
func printFlags(w io.Writer, fs *flag.FlagSet, l flagList) {
	seen := map[string]bool{}
	for long := range l.aliases {
		seen[long] = true
	}
	print := func(f *flag.Flag) {
		seen[f.Name] = true
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := "  " + dash + f.Name
		for long, short := range l.aliases {
			if short == f.Name {
				line += ", --" + long
			}
		}
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch f.DefValue {
		case "", "0", "0s", "false":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
		if l.env {
			fmt.Fprintf(w, "    \t[$%s]\n", envName(f.Name))
		}
	}
	for _, name := range l.order {
		if f := fs.Lookup(name); f != nil && !seen[name] {
			print(f)
		}
	}
	var rest []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			rest = append(rest, f)
		}
	})
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	for _, f := range rest {
		print(f)
	}
}

// sizeFlag is a byte count written as a plain number or with a unit:
// 512, 64KiB, 1MiB, 2GiB (KB, MB and GB mean the same powers of 1024);
// "-1" or "none" means no limit.
type sizeFlag struct{ n *int64 }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	return formatSize(*f.n)
}

func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.n = n
	return nil
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "none" || s == "-1" {
		return -1, nil
	}
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("want a size such as 65536, 64KiB or 1MiB")
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n < 0:
		return "none"
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

// listFlag collects comma-separated values; it may be repeated.
type listFlag struct{ list *[]string }

func (f listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*f.list = append(*f.list, v)
		}
	}
	return nil
}

// choiceFlag is one of a fixed set of names, each standing for a value.
type choiceFlag[T comparable] struct {
	v       *T
	choices []choice[T]
}

type choice[T any] struct {
	name  string
	value T
}

func (f choiceFlag[T]) String() string {
	if f.v == nil {
		return ""
	}
	for _, c := range f.choices {
		if c.value == *f.v {
			return c.name
		}
	}
	return ""
}

func (f choiceFlag[T]) Set(s string) error {
	var names []string
	for _, c := range f.choices {
		if strings.EqualFold(s, c.name) {
			*f.v = c.value
			return nil
		}
		names = append(names, c.name)
	}
	last := len(names) - 1
	return fmt.Errorf("want %s or %s", strings.Join(names[:last], ", "), names[last])
}

var compressionChoices = []choice[wsx.CompressionMode]{
	{"off", wsx.CompressionDisabled},
	{"on", wsx.CompressionNoContextTakeover},
	{"context-takeover", wsx.CompressionContextTakeover},
}

var logLevelChoices = []choice[slog.Level]{
	{"debug", slog.LevelDebug},
	{"info", slog.LevelInfo},
	{"warn", slog.LevelWarn},
	{"error", slog.LevelError},
}

var logFormatChoices = []choice[string]{{"text", "text"}, {"json", "json"}}

// newLogger returns a logger writing to w in the given format.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
