"""One-line explanations of every statistical term on the experiment page, shown on hover (and focus)."""

GLOSSARY = {
    "p_value": (
        "How often a difference at least this large would appear by pure chance if the versions were equally "
        "good. The smaller, the less likely it is chance."
    ),
    "interval": "The range the true value very likely lies in (95% of the time), given these results.",
    "n": "How many test cases (offline) or users (production) this figure is computed from.",
    "difference": "The challenger minus the control, as estimated by the test in the last column.",
    "chance": "Given the results so far, the probability that this version is truly better than the control.",
    "holm": (
        "With several challengers or guardrails, each p-value is raised (Holm's method) so that the chance of any "
        "false alarm stays at 5%."
    ),
    "guardrail": "A metric that must not get worse beyond its allowed margin for a version to win.",
    "margin": "How much worse a guardrail may get and still pass; it passes only once shown to stay within it.",
    "power": "The chance that a real change of the given size is detected, if there is one.",
    "looks": (
        "Looking again after each run gives chance more opportunities; the 5% risk of a false winner is therefore "
        "shared out over the runs."
    ),
    "McNemar's test": "Compares pass/fail on the same test cases by counting the cases where only one version passed.",
    "Wilcoxon signed-rank test": (
        "Compares numbers case by case; the difference shown is the typical per-case difference (Hodges–Lehmann)."
    ),
    "paired t-test": "Compares the average per-case difference between the versions on the same cases.",
    "paired bootstrap": (
        "Re-draws the test cases hundreds of times to see how much a percentile (such as the slowest 5%) moves by "
        "chance."
    ),
    "delta method (ratio)": "Compares a ratio (total cost ÷ successful answers) with the uncertainty of both parts.",
    "kappa": (
        "Cohen's kappa: how much an AI grader agrees with your reviewers beyond what chance alone would give. "
        "1 is perfect agreement, 0 no better than chance; 0.6 and above is usually called good."
    ),
}


def explain(term: str) -> str:
    """The explanation of a term, or of a test the page names; empty when none is known."""
    if term in GLOSSARY:
        return GLOSSARY[term]
    lowered = term.lower()
    if "sequential" in lowered or "msprt" in lowered:
        return "A test that stays valid however often you look at the results, so you may check at any time."
    if "z-test" in lowered or "t-test" in lowered or "welch" in lowered:
        return "Compares the averages of the two groups of users, allowing for their spread."
    return ""
