import { BarChart } from "@mantine/charts";
import { Group, SegmentedControl, Stack, Text, Title } from "@mantine/core";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { useFormat } from "../../lib/format";
import { useTokenUsage } from "./api";

/**
 * The most verifications a token's limits admit in one bucket of `intervalSeconds` (fixed windows that
 * divide the bucket evenly: limit × windows per bucket; a longer window admits at most its limit), the
 * tightest limit deciding. Null without limits.
 */
export function bucketCapacity(limits: readonly { limit: number; windowSeconds: number }[], intervalSeconds: number): number | null {
  if (limits.length === 0) return null;
  return Math.min(...limits.map((l) => l.limit * Math.max(1, Math.floor(intervalSeconds / l.windowSeconds))));
}

/**
 * Successful vs refused verifications per hour (last 48 h) or per day (last 30 days), with the most the
 * token's rate limits admit per bucket drawn as a line.
 */
export function UsageChart({
  orgId,
  tokenId,
  limits = [],
}: {
  orgId: string;
  tokenId: string;
  limits?: readonly { limit: number; windowSeconds: number }[];
}) {
  const { t } = useTranslation();
  const format = useFormat();
  const [interval, setInterval] = useState<"hour" | "day">("day");
  const usage = useTokenUsage(orgId, tokenId, interval);
  const label = new Intl.DateTimeFormat(
    format.locale,
    interval === "hour" ? { day: "numeric", hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" },
  );
  const data = (usage.data ?? []).map((b) => ({ bucket: label.format(new Date(b.start)), ok: b.ok, denied: b.denied }));
  const capacity = bucketCapacity(limits, interval === "hour" ? 3600 : 86_400);
  const totals = (usage.data ?? []).reduce((acc, b) => ({ ok: acc.ok + b.ok, denied: acc.denied + b.denied }), { ok: 0, denied: 0 });

  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Title order={2} size="h4">
          {t("usage.title")}
        </Title>
        <SegmentedControl
          aria-label={t("usage.interval")}
          value={interval}
          onChange={(v) => setInterval(v === "hour" ? "hour" : "day")}
          data={[
            { value: "hour", label: t("usage.hourly") },
            { value: "day", label: t("usage.daily") },
          ]}
          size="xs"
        />
      </Group>
      <Text size="sm" c="dimmed">
        {t(interval === "hour" ? "usage.rangeHourly" : "usage.rangeDaily")} ·{" "}
        {t("usage.totals", { ok: format.number(totals.ok), denied: format.number(totals.denied) })}
        {capacity !== null &&
          ` · ${t(interval === "hour" ? "limits.capacityHourly" : "limits.capacityDaily", { count: capacity, formatted: format.number(capacity) })}`}
      </Text>
      {usage.isPending ? (
        <PageLoader />
      ) : usage.isError ? (
        <ErrorAlert error={usage.error} />
      ) : (
        <div role="img" aria-label={t("usage.chartLabel", { ok: totals.ok, denied: totals.denied })}>
          <BarChart
            h={260}
            data={data}
            dataKey="bucket"
            type="stacked"
            withLegend
            series={[
              { name: "ok", label: t("usage.ok"), color: "teal.6" },
              { name: "denied", label: t("usage.denied"), color: "red.6" },
            ]}
            tickLine="y"
            xAxisProps={{ interval: "preserveStartEnd", minTickGap: 24 }}
            yAxisProps={{ allowDecimals: false }}
            referenceLines={capacity !== null ? [{ y: capacity, label: t("limits.chartLine"), color: "orange.7" }] : []}
          />
        </div>
      )}
    </Stack>
  );
}
