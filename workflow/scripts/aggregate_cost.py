from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.aggregate import load_costs, load_retained_mass, write_table

write_table(load_costs(snakemake.input.costs), snakemake.output.cost, html_path=snakemake.output.cost_html,
            title="What each pattern costs")
write_table(load_retained_mass(snakemake.input.retained), snakemake.output.retained)
