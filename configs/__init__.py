"""The shipped run configs (YAML); installed as ebm_cd_study_configs so sweeps find them outside a
checkout."""
