{%- set horizon = label_horizon_days() -%}
{%- set horizon_end = day_end(add_days('example_dates.as_of_date', horizon)) -%}
{{ config(**by_day('as_of_date', offset_days=-horizon, microbatch=false)) }}
{#- Features as of D with label 1 iff a suspend or ban starts in (D, D + H] and no reinstate ends it within
    (D, D + H]. A partition window [min_date, max_date) closes the label windows of
    D in [min_date - H, max_date - H): their last day D + H is inside the partition window. So each D belongs to
    exactly one partition (D + H) and re-building that partition rebuilds D's examples from current data.
    Accounts under an active suspend or ban as of D are left out: their label says nothing new.
    label_warned and label_reinstated say what else happened in (D, D + H]: a warning, or a suspend or ban that
    started there and was reinstated within it. They are not features; safeguard.labels decides what fitting
    learns from these ambiguous examples.
    A reviewer's confirmation in the review queue (stg_review_labels) is a label of its own source: confirmed in
    (D, D + H] makes the example positive with label_review = 1; confirmed by the end of D leaves the account
    out, as an enforced one. -#}

with example_dates as (
    {{ window_dates('as_of_date', offset_days=-horizon) }}
),

features as (
    select features.*
    from {{ ref('fct_account_features') }} as features
    inner join example_dates
        on example_dates.as_of_date = features.as_of_date
),

eligible as (
    select snapshot.as_of_date, snapshot.account_id
    from {{ ref('int_account_snapshot') }} as snapshot
    left join {{ ref('stg_review_labels') }} as confirmed
        on confirmed.account_id = snapshot.account_id
       and confirmed.confirmed_at < {{ day_end('snapshot.as_of_date') }}
    where {{ in_window('snapshot.as_of_date', offset_days=-horizon) }}
      and snapshot.is_enforced = 0
      and confirmed.account_id is null
),

reviewed as (
    select distinct example_dates.as_of_date, reviews.account_id
    from example_dates
    inner join {{ ref('stg_review_labels') }} as reviews
        on reviews.confirmed_at >= {{ day_end('example_dates.as_of_date') }}
       and reviews.confirmed_at < {{ horizon_end }}
),

blocks as (
    {#- the enforced states that start after D, by the end of D + H: one that still holds at the end of D + H
        makes the example positive; one that ended there (a reinstate) makes it reinstated -#}
    select
        example_dates.as_of_date,
        states.account_id,
        max(case when states.state_until is null or states.state_until >= {{ horizon_end }} then 1 else 0 end)
            as still_enforced,
        max(case when states.state_until < {{ horizon_end }} then 1 else 0 end) as reinstated
    from example_dates
    inner join {{ ref('int_enforcement_states') }} as states
        on {{ enforced_state_starts_within('states', 'example_dates.as_of_date', horizon) }}
    group by example_dates.as_of_date, states.account_id
),

warned as (
    select distinct
        example_dates.as_of_date,
        actions.account_id
    from example_dates
    inner join {{ ref('stg_enforcement_actions') }} as actions
        on actions.action = 'warn'
       and actions.action_ts >= {{ day_end('example_dates.as_of_date') }}
       and actions.action_ts < {{ horizon_end }}
)

select
    features.*,
    cast(case when blocks.still_enforced = 1 or reviewed.account_id is not null then 1 else 0 end
        as {{ dbt.type_int() }}) as label,
    cast(case when warned.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as label_warned,
    cast(coalesce(blocks.reinstated, 0) as {{ dbt.type_int() }}) as label_reinstated,
    cast(case when reviewed.account_id is null then 0 else 1 end as {{ dbt.type_int() }}) as label_review
from features
inner join eligible
    on eligible.as_of_date = features.as_of_date and eligible.account_id = features.account_id
left join blocks
    on blocks.as_of_date = features.as_of_date and blocks.account_id = features.account_id
left join warned
    on warned.as_of_date = features.as_of_date and warned.account_id = features.account_id
left join reviewed
    on reviewed.as_of_date = features.as_of_date and reviewed.account_id = features.account_id
