/*
 * pg_settings.c — tl_settings(): the tensorlens.* settings of this session.
 *
 * The settings are defined when the library is loaded (_PG_init), which a
 * new session does at its first call of a C function of the extension; until
 * then "SHOW tensorlens.fusion" does not know the name.  Calling this
 * function loads the library, so it lists them all, and SHOW works after it.
 */
#include "tl_pg.h"

#include "executor/spi.h"
#include "funcapi.h"

PG_FUNCTION_INFO_V1(pg_tl_settings);
Datum
pg_tl_settings(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	if (SPI_execute("SELECT name, setting, unit, short_desc FROM pg_catalog.pg_settings "
					"WHERE name OPERATOR(pg_catalog.~~) 'tensorlens.%' ORDER BY name", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tensorlens: reading pg_settings failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		Datum		values[4];
		bool		nulls[4];

		for (int c = 0; c < 4; c++)
			values[c] = SPI_getbinval(t, SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
