# `snakemake --report report.html` collects the tables and figures marked with report()
# (workflow/rules/analyze.smk), each with its caption from workflow/report/.


report: "../report/workflow.rst"


def caption(name):
    """workflow/report/<name without extension>.rst (path relative to this rule file)."""
    return f"../report/{Path(name).stem.split('.')[0]}.rst"
