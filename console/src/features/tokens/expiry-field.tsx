import { Group, Radio, Stack, Text } from "@mantine/core";
import { DatePickerInput } from "@mantine/dates";
import { useTranslation } from "react-i18next";
import { useFormat } from "../../lib/format";
import { addDays, type ExpiryChoice, type ExpiryPolicy } from "./expiry";

interface Props {
  policy: ExpiryPolicy;
  choice: ExpiryChoice;
  onChoiceChange: (choice: ExpiryChoice) => void;
  customDate: string | null;
  onCustomDateChange: (value: string | null) => void;
  error?: string;
  customDateError?: string;
}

/** Expiry presets (30 / 90 / 365 days / custom date / never) as the organisation's policy allows. */
export function ExpiryField({
  policy,
  choice,
  onChoiceChange,
  customDate,
  onCustomDateChange,
  error,
  customDateError,
}: Props) {
  const { t } = useTranslation();
  const format = useFormat();
  const now = new Date();
  const tomorrow = addDays(now, 1);
  const presetDate = Number(choice) > 0 ? addDays(now, Number(choice)) : null;

  return (
    <Stack gap="xs">
      <Radio.Group
        label={t("tokens.create.expiry")}
        value={choice}
        onChange={(value) => onChoiceChange(value as ExpiryChoice)}
        error={error}
        description={
          presetDate
            ? t("tokens.create.expiresOn", { date: format.date(presetDate.toISOString()) })
            : choice === "never"
              ? t("tokens.create.neverHint")
              : undefined
        }
      >
        <Group mt="xs" gap="md">
          {policy.presets.map((days) => (
            <Radio key={days} value={`${days}`} label={t("tokens.create.days", { count: days })} />
          ))}
          <Radio value="custom" label={t("tokens.create.customDate")} />
          {policy.allowNever && <Radio value="never" label={t("tokens.create.never")} />}
        </Group>
      </Radio.Group>
      {choice === "custom" && (
        <DatePickerInput
          label={t("tokens.create.expiryDate")}
          placeholder={t("tokens.create.pickDate")}
          value={customDate}
          onChange={onCustomDateChange}
          minDate={tomorrow}
          maxDate={policy.maxDate ?? undefined}
          error={customDateError}
          required
          clearable
          valueFormat="LL"
        />
      )}
      {policy.maxDate && (
        <Text size="xs" c="dimmed">
          {t("tokens.create.maxExpiry", { date: format.date(policy.maxDate.toISOString()) })}
        </Text>
      )}
    </Stack>
  );
}
