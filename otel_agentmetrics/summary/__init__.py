"""The local summary view: a store on disk, summaries, reports and a dashboard. (Lands with the summary issue.)"""
