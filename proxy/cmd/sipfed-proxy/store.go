package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
)

const storeUsage = `Usage:
  sipfed-proxy store check   --data-dir DIR | --file FILE     check a stopped store, or a backup
  sipfed-proxy store backup  --to FILE [--endpoint URL]       copy a running proxy's store
  sipfed-proxy store restore --from FILE --data-dir DIR       put a backup in place of a stopped proxy's store
  sipfed-proxy store copy    --from bolt:DIR --to etcd:URL    move a stopped single node's store into a cluster on etcd

Exit status: 0 when the store (or the backup) is sound and the command did its work, 1 otherwise.
`

// storeCmd runs `sipfed-proxy store ...`: the embedded bbolt store, checked, backed up and
// restored. Check and restore read the file itself, so the proxy must be stopped; backup asks a
// running proxy, which holds the file locked, for a consistent copy.
func storeCmd(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("store needs a subcommand\n\n%s", storeUsage)
	}
	switch args[0] {
	case "check":
		return storeCheck(args[1:], out)
	case "backup":
		return storeBackup(args[1:], out)
	case "restore":
		return storeRestore(args[1:], out)
	case "copy":
		return storeCopy(args[1:], out)
	case "-h", "--help", "help":
		fmt.Fprint(out, storeUsage)
		return nil
	}
	return fmt.Errorf("store: unknown subcommand %q\n\n%s", args[0], storeUsage)
}

func parseStoreFlags(flags *flag.FlagSet, args []string) (done bool, err error) {
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return true, err
	}
	if flags.NArg() > 0 {
		return true, fmt.Errorf("store %s takes no arguments, got %q", flags.Name(), flags.Args())
	}
	return false, nil
}

func storeCheck(args []string, out io.Writer) error {
	flags := flag.NewFlagSet("check", flag.ContinueOnError)
	dataDir := flags.String("data-dir", "", "data directory of a stopped proxy")
	file := flags.String("file", "", "a store file to check instead, e.g. a backup")
	if done, err := parseStoreFlags(flags, args); done {
		return err
	}
	path, err := storeFile(*dataDir, *file)
	if err != nil {
		return err
	}
	rep, err := bolt.Check(path, 0)
	if err == nil {
		// Ours passed, so bbolt may map the file: its own check is a second opinion.
		err = bolt.CheckWithBbolt(path)
	}
	if err != nil {
		return checkFailure(out, path, *dataDir, err)
	}
	fmt.Fprintf(out, "store %s is sound: %s; checked in %s\n", path, describe(rep), rep.Took.Round(time.Millisecond))
	return nil
}

// storeFile is the file check works on: the one in --data-dir, or --file.
func storeFile(dataDir, file string) (string, error) {
	switch {
	case dataDir != "" && file != "":
		return "", errors.New("give --data-dir or --file, not both")
	case file != "":
		return file, nil
	case dataDir != "":
		return filepath.Join(dataDir, bolt.FileName), nil
	}
	return "", errors.New("store check needs --data-dir DIR (a stopped proxy's store) or --file FILE (a backup)")
}

// checkFailure lists every problem found, one a line, and returns the one-line verdict.
func checkFailure(out io.Writer, path, dataDir string, err error) error {
	var ce *bolt.CheckError
	switch {
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			fmt.Fprintf(out, "  %s\n", p)
		}
		if dataDir != "" {
			ce.Advice = fmt.Sprintf("restore it from a backup with 'sipfed-proxy store restore --from BACKUP --data-dir %s'", dataDir)
		} else {
			ce.Advice = "do not restore this file; use another backup"
		}
		return ce
	case errors.Is(err, bolt.ErrLocked):
		return fmt.Errorf("store %s is in use by a running sipfed-proxy: stop it first, or check a copy: 'sipfed-proxy store backup --to FILE', then 'sipfed-proxy store check --file FILE'", path)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no store at %s", path)
	}
	return fmt.Errorf("checking store %s: %w", path, err)
}

func describe(rep *bolt.Report) string {
	s := fmt.Sprintf("format %d, revision %d, %d objects, %d audit entries, %d side records; %d pages of %d bytes (%.1f MiB)",
		rep.Format, rep.Revision, rep.Objects, rep.Changes, rep.SideRecords, rep.Pages, rep.PageSize, float64(rep.Size)/(1<<20))
	if rep.Format == 0 {
		s += "; format 0 (before record checksums): the proxy migrates it when it starts"
	}
	return s
}

func storeBackup(args []string, out io.Writer) error {
	flags := flag.NewFlagSet("backup", flag.ContinueOnError)
	to := flags.String("to", "", "file to write the backup to (written whole or not at all)")
	endpoint := flags.String("endpoint", envOr("SIPFED_ENDPOINT", api.DefaultEndpoint), "admin API of the running proxy (env SIPFED_ENDPOINT)")
	tokenFile := flags.String("admin-token-file", "", "admin token file (default: env SIPFED_TOKEN, else DATA-DIR/admin.token)")
	dataDir := flags.String("data-dir", "./data", "data directory of a proxy that generated its token")
	caCert := flags.String("ca-cert", "", "PEM CA bundle that signed an HTTPS admin API's certificate (default: the system's)")
	timeout := flags.Duration("timeout", 10*time.Minute, "give up on a backup that takes longer")
	if done, err := parseStoreFlags(flags, args); done {
		return err
	}
	if *to == "" {
		return errors.New("store backup needs --to FILE")
	}
	token, err := clientToken(*tokenFile, *dataDir)
	if err != nil {
		return err
	}
	client, err := backupClient(*caCert)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rep, err := fetchBackup(ctx, client, strings.TrimRight(*endpoint, "/"), token, *to)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backup written to %s and verified: %s\n", *to, describe(rep))
	return nil
}

func backupClient(caCert string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 30 * time.Second
	if caCert != "" {
		pem, err := os.ReadFile(caCert)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-cert %s holds no PEM certificate", caCert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// fetchBackup downloads the store from the admin API into the file to: written beside it,
// checked completely, and only then renamed into place.
func fetchBackup(ctx context.Context, client *http.Client, endpoint, token, to string) (*bolt.Report, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/v1/backup", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s for a backup: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s refused the backup: %s", endpoint, apiErrorMessage(resp))
	}
	rep, err := bolt.SaveBackup(to, resp.Body, resp.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("backup from %s not written to %s: %w", endpoint, to, err)
	}
	if h := resp.Header.Get(api.HeaderRevision); h != strconv.FormatUint(rep.Revision, 10) {
		return nil, fmt.Errorf("the backup in %s holds revision %d, the proxy announced %s", to, rep.Revision, h)
	}
	return rep, nil
}

func apiErrorMessage(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb api.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		return fmt.Sprintf("%d %s", resp.StatusCode, eb.Error.Message)
	}
	return resp.Status
}

func storeRestore(args []string, out io.Writer) error {
	flags := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := flags.String("from", "", "the backup to restore (from sipfed-proxy store backup)")
	dataDir := flags.String("data-dir", "", "data directory of the stopped proxy")
	if done, err := parseStoreFlags(flags, args); done {
		return err
	}
	if *from == "" || *dataDir == "" {
		return errors.New("store restore needs --from FILE and --data-dir DIR")
	}
	res, err := bolt.Restore(*from, *dataDir)
	if err != nil {
		return restoreFailure(out, *from, *dataDir, err)
	}
	fmt.Fprintf(out, "restored %s into %s: %s\n", *from, res.Report.Path, describe(res.Report))
	if res.Previous != "" {
		fmt.Fprintf(out, "the store it replaced is kept as %s\n", res.Previous)
	}
	return nil
}

func restoreFailure(out io.Writer, from, dataDir string, err error) error {
	var (
		ce      *bolt.CheckError
		pathErr *fs.PathError
	)
	switch {
	case errors.As(err, &ce) && ce.Path == from:
		for _, p := range ce.Problems {
			fmt.Fprintf(out, "  %s\n", p)
		}
		ce.Advice = "nothing was restored; use another backup"
		return ce
	case errors.Is(err, bolt.ErrLocked):
		return fmt.Errorf("store %s is in use by a running sipfed-proxy: stop it first; nothing was restored",
			filepath.Join(dataDir, bolt.FileName))
	case errors.As(err, &pathErr) && pathErr.Path == from && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no backup at %s", from)
	}
	return fmt.Errorf("restoring %s into %s: %w; the store was left as it was", from, dataDir, err)
}
