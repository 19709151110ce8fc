"""``python -m orchestration.dbt``: parse the dbt project into dbt_project/target/manifest.json, the build step
before the code location loads (``make dbt-manifest``). The project as Dagster sees it is ``assets.dbt_project``."""

from assets.dbt_project import prepare_manifest

if __name__ == "__main__":
    prepare_manifest()
