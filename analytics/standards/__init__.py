"""Environmental standards as data: limit tables in ``seeds/standards/`` and pure functions.

Nothing here does I/O except reading those TOML tables once (cached). Modules:

- ``gb3838``: surface-water classes (GB 3838-2002, single-factor evaluation)
- ``gb3096``: environmental noise limits, Leq/Ldn/L10–L90, streaming hourly/daily aggregation
- ``gb3095``: ambient-air limits, 2012 and 2026 editions (2026 transitional/final by date)
- ``hj633``: AQI, 2012 and 2026 editions (default 2026)
- ``gb18918``: municipal wastewater-plant discharge limits (sewage-plant outfalls)
- ``gb8978``: integrated wastewater discharge limits (industrial outfalls' days; the COD level of
  wastewater at a rain outfall)

>>> from analytics.standards import section_class, aqi_daily, noise_limit
>>> section_class({"nh3n": 1.2, "do": 6.2}).label
'IV'
>>> noise_limit("1", night=True)
45.0
"""

from analytics.standards import gb3095, gb3096, gb3838, gb8978, gb18918, hj633
from analytics.standards._tables import Limit, StandardsTableError, load_table
from analytics.standards.gb3095 import AirLimits
from analytics.standards.gb3095 import limits as air_limits
from analytics.standards.gb3096 import (
    DailyNoise,
    HourlyLeq,
    NoiseDayAggregator,
    StatisticalLevels,
    aggregate_noise,
    exceedance_level,
    is_exceedance,
    is_night_burst,
    ldn,
    leq,
    statistical_levels,
)
from analytics.standards.gb3096 import limit as noise_limit
from analytics.standards.gb3838 import (
    WaterClass,
    class_label,
    meets_target,
    parse_class,
    section_class,
    single_factor_class,
)
from analytics.standards.gb3838 import limit as water_limit
from analytics.standards.gb18918 import exceeds as discharge_exceeds
from analytics.standards.gb18918 import limit as discharge_limit
from analytics.standards.hj633 import (
    AQIResult,
    Category,
    aqi_category,
    aqi_daily,
    aqi_hourly,
    iaqi,
    o3_8h_moving_average,
    round_gbt8170,
)

__all__ = [
    "AQIResult",
    "AirLimits",
    "Category",
    "DailyNoise",
    "HourlyLeq",
    "Limit",
    "NoiseDayAggregator",
    "StandardsTableError",
    "StatisticalLevels",
    "WaterClass",
    "aggregate_noise",
    "air_limits",
    "aqi_category",
    "aqi_daily",
    "aqi_hourly",
    "class_label",
    "discharge_exceeds",
    "discharge_limit",
    "exceedance_level",
    "gb3095",
    "gb3096",
    "gb3838",
    "gb8978",
    "gb18918",
    "hj633",
    "iaqi",
    "is_exceedance",
    "is_night_burst",
    "ldn",
    "leq",
    "load_table",
    "meets_target",
    "noise_limit",
    "o3_8h_moving_average",
    "parse_class",
    "round_gbt8170",
    "section_class",
    "single_factor_class",
    "statistical_levels",
    "water_limit",
]
