// Allure Report 3: one self-contained HTML file per maintenance run, in the plan's language
// (FLATNET_RECORD_LANGUAGE, set by procedures/report.py from the run; Japanese by default).
import { defineConfig } from "allure";

const english = process.env.FLATNET_RECORD_LANGUAGE === "en";

export default defineConfig({
  name: english ? "Flatnet maintenance record" : "Flatnet メンテナンス記録",
  plugins: {
    awesome: {
      options: { singleFile: true, reportLanguage: english ? "en" : "ja", groupBy: ["parentSuite", "suite"] },
    },
  },
  // The overview's categories answer the reader's first question: is the target back as it was?
  categories: english
    ? [
        { name: "ROLLBACK FAILED: the target needs a human", matchedStatuses: ["broken", "failed"], messageRegex: ".*ROLLBACK FAILED.*" },
        { name: "Failed and rolled back: the target is verified as before", matchedStatuses: ["failed", "broken"] },
      ]
    : [
        { name: "ロールバック失敗: 至急、人の対応が必要", matchedStatuses: ["broken", "failed"], messageRegex: ".*ROLLBACK FAILED.*" },
        { name: "失敗しロールバック済み: 作業前の状態に復旧を確認", matchedStatuses: ["failed", "broken"] },
      ],
});
