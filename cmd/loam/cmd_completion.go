package main

import (
	"github.com/spf13/cobra"
)

func newCompletionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script for loam",
		Long: `Print the script that makes the shell complete loam's commands, flags and
arguments. Load it in the current shell, or install it where the shell
looks for completions:

  bash  source <(loam completion bash)
        loam completion bash > /etc/bash_completion.d/loam  (needs the
        bash-completion package)
  zsh   loam completion zsh > "${fpath[1]}/_loam"  (with compinit enabled;
        start a new shell)
  fish  loam completion fish > ~/.config/fish/completions/loam.fish`,
		Example: `  source <(loam completion bash)
  loam completion zsh > "${fpath[1]}/_loam"
  loam completion fish > ~/.config/fish/completions/loam.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return usageErrorf(cmd, "no completion for shell %q: loam completes in bash, zsh and fish", args[0])
		},
	}
	return cmd
}
