# `snakemake --report report.html` collects the tables and figures marked with report()
# (workflow/rules/analyze.smk), each with its caption from workflow/report/: the headline
# figures and tables first ("1 Results"), in the order of ssgan/analysis/report_pages.py; the
# tables as HTML pages (shown in place; a CSV would be a download), each figure once (PNG; the
# PDF beside it in the figures folder); the raw table files last, as downloads.
from ssgan.analysis import report_pages


report: "../report/workflow.rst"


CAPTIONS = Path(str(workflow.current_basedir)).parent / "report"  # workflow/report


def caption(name):
    """workflow/report/<name without extension>.rst (absolute: rules in any file use it)."""
    return str(CAPTIONS / f"{Path(name).stem.split('.')[0]}.rst")


def report_entry(path, name):
    """``path`` marked for the report as the entry ``name`` of report_pages.ENTRIES."""
    category, labels = report_pages.entry(name)
    return report(path, caption=caption(name), category=category, labels=labels)


def report_file(path):
    """A raw table file, listed last as a download."""
    return report(path, caption=caption(path), category=report_pages.FILES)
